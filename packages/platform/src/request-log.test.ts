import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, serviceLogger } from './logging.js';
import { inRequestScope, requestLogFields } from './request-log.js';

function capture() {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    destination,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

describe('request-level log fields', () => {
  it('every line logged while a request is handled carries its Call-ID and conference, none after', async () => {
    const out = capture();
    const logger = serviceLogger(
      createLogger('embedded', { destination: out.destination }),
      'focus-controller',
    );
    let later: Promise<void> | undefined;
    await inRequestScope(
      { callId: 'c1@ua', conferenceId: 'k3x9', method: 'INVITE', ignored: undefined } as never,
      async () => {
        logger.info('inside');
        await new Promise((r) => setTimeout(r, 1));
        logger.child({ legId: 'l1' }).warn({ callId: 'own' }, 'own field wins');
        // Work the request leaves behind runs after it was answered.
        later = new Promise((resolve) => setTimeout(() => resolve(logger.info('left behind')), 5));
      },
    );
    await later;
    logger.info('outside');
    const [inside, own, leftBehind, outside] = out.lines();
    expect(inside).toMatchObject({
      msg: 'inside',
      callId: 'c1@ua',
      conferenceId: 'k3x9',
      method: 'INVITE',
      service: 'focus-controller',
    });
    expect(own).toMatchObject({ callId: 'own', conferenceId: 'k3x9', legId: 'l1' });
    for (const line of [leftBehind, outside]) {
      expect(line.callId, line.msg).toBeUndefined();
      expect(line.conferenceId, line.msg).toBeUndefined();
    }
    expect(Object.keys(inside)).not.toContain('ignored');
    expect(requestLogFields()).toBeUndefined();
  });
});
