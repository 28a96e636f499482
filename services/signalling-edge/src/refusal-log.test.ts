import { Writable } from 'node:stream';
import { createLogger } from '@sip-pubsub/platform';
import { createResponse, parseMessage, type SipRequest } from '@sip-pubsub/sip';
import { describe, expect, it } from 'vitest';
import { logOwnerRefusal } from './refusal-log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: createLogger('signalling-edge', { level: 'info', destination }) };
}

const invite = parseMessage(
  Buffer.from(
    'INVITE sip:conf-abc@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@example.net>;tag=1\r\nTo: <sip:conf-abc@example.net>\r\nCall-ID: call-7@192.0.2.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
  ),
) as SipRequest;

describe('logOwnerRefusal', () => {
  it('logs a 488 at info with the Call-ID, conference, owner and the Warning that says why', () => {
    const { lines, logger } = capture();
    const refusal = createResponse(invite, 488, 'Not Acceptable Here', {
      headers: [{ name: 'Warning', value: '304 focus "no m=text line"' }],
      toTag: 't',
    });
    logOwnerRefusal(logger, invite, refusal, { service: 'focus-controller', id: 'focus-1', key: 'conf-abc' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      service: 'signalling-edge',
      msg: 'request refused by its owner',
      method: 'INVITE',
      callId: 'call-7@192.0.2.1',
      conference: 'conf-abc',
      owner: 'focus-controller/focus-1',
      status: 488,
      reason: 'Not Acceptable Here',
      warning: '304 focus "no m=text line"',
    });
  });

  it('says nothing about answers that are not refusals', () => {
    const { lines, logger } = capture();
    for (const status of [200, 302, 404, 481, 487])
      logOwnerRefusal(logger, invite, createResponse(invite, status, 'x', { toTag: 't' }), {
        service: 'focus-controller',
        id: 'focus-1',
        key: 'conf-abc',
      });
    expect(lines).toEqual([]);
  });
});
