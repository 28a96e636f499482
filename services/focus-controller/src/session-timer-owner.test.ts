// Where a participant's RFC 4028 deadline is registered: in this replica when it owns the conference,
// else handed to the conference's owner (FACTORY_MODE=join answers joins at the factory's owner).
import { createLogger } from '@sip-pubsub/platform';
import type { ParticipantRecord } from '@sip-pubsub/proto';
import { describe, expect, it } from 'vitest';
import { sessionTimerArming } from './session-timer-owner.js';

const record = (conferenceId: string, timer = true): ParticipantRecord => ({
  conferenceId,
  legId: `leg-${conferenceId}`,
  callId: 'c',
  remoteTag: 'r',
  localTag: 'l',
  aor: 'sip:a@example.org',
  contact: 'sip:a@127.0.0.1',
  remoteSeq: 1,
  role: 'subscriber',
  status: 'sendonly',
  relayId: 'relay',
  relayAddress: 'relay:1',
  media: { host: '192.0.2.1', port: 30000 },
  remoteMedia: { host: '192.0.2.2', port: 40000 },
  flow: { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5080 },
  joinedAt: 1,
  ...(timer ? { sessionTimer: { seconds: 90, refresher: 'uac' as const, refreshedAt: 1 } } : {}),
});

describe('sessionTimerArming', () => {
  const setup = (handOver: (c: string, l: string) => Promise<boolean>) => {
    const here: string[] = [];
    const handed: string[] = [];
    const arm = sessionTimerArming({
      owns: (conferenceId) => conferenceId === 'mine',
      armHere: (p) => here.push(p.legId),
      handOver: (c, l) => {
        handed.push(`${c}/${l}`);
        return handOver(c, l);
      },
      logger: createLogger('test', { level: 'silent' }),
    });
    return { arm, here, handed };
  };

  it("arms here for an owned conference, and hands another's timer to its owner, never arming it here", async () => {
    const { arm, here, handed } = setup(async () => true);
    arm(record('mine'));
    arm(record('theirs'));
    await new Promise((r) => setImmediate(r));
    expect(here).toEqual(['leg-mine']);
    expect(handed).toEqual(['theirs/leg-theirs']);
  });

  it('hands nothing over for a record without a session timer; a failed hand-over is only logged', async () => {
    const { arm, here, handed } = setup(async () => {
      throw new Error('owner unreachable');
    });
    arm(record('theirs', false));
    arm(record('theirs'));
    await new Promise((r) => setImmediate(r));
    expect(here).toEqual([]);
    expect(handed).toEqual(['theirs/leg-theirs']);
  });
});
