// REFER dial-out against a conference the idle sweep (CONFERENCE_IDLE_TTL) is ending: refused at once
// while it is marked `closing`, and a dial-out whose roster place came too late reports 404, leaving
// nothing behind (no INVITE, no leg, no roster entry).
import { createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import {
  type ConferenceRecord,
  conferenceRecordSchema,
  type IndexRecord,
  indexRecordSchema,
  participantRecordSchema,
  referralRecordSchema,
  rosterIndexKey,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, type SipRequest } from '@sip-pubsub/sip';
import { beforeEach, describe, expect, it } from 'vitest';
import { Referrals } from './refer.js';

const CONF_ID = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
const CONF = `sip:conf-${CONF_ID}@example.net`;
const FLOW = { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5080, edgeId: 'edge-1' };

describe('Referrals while the idle sweep ends the conference', () => {
  let conferences: JsonBucket<ConferenceRecord>;
  let indexes: JsonBucket<IndexRecord>;
  let sent: SipRequest[];
  let allocated: number;
  let admits: boolean;
  let referrals: Referrals;

  beforeEach(async () => {
    const kv = new InProcessKvStore();
    conferences = new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema);
    indexes = new JsonBucket(await kv.bucket('indexes'), indexRecordSchema);
    await conferences.put(CONF_ID, {
      id: CONF_ID,
      topic: 'plant/2',
      creator: 'sip:chair@example.org',
      created: 1,
      policy: { onExistingTopic: 'redirect', invalidData: 'drop' },
    });
    sent = [];
    allocated = 0;
    admits = true;
    referrals = new Referrals({
      domain: 'example.net',
      selfId: 'focus-a',
      stores: {
        conferences,
        participants: new JsonBucket(await kv.bucket('participants'), participantRecordSchema),
        indexes,
        referrals: new JsonBucket(await kv.bucket('referrals'), referralRecordSchema),
      },
      relays: {
        allocate: async () => {
          allocated++;
          return { relayId: 'r1', relayAddress: 'r1:1', host: '192.0.2.9', port: 30000 };
        },
        update: async () => undefined,
        release: async () => true,
      },
      send: async (request) => {
        sent.push(request);
        return { status: 200, reason: 'OK' };
      },
      bus: new InProcessBus(),
      logger: createLogger('test', { level: 'silent' }),
      admins: [],
      maxLegsPerConference: 10,
      dialOutTimeoutMs: 1000,
      liveReplicas: () => ['focus-a'],
      owns: () => true,
      admits: async () => admits,
      defer: (work) => work(),
    });
  });

  const refer = () =>
    createRequest({
      method: 'REFER',
      uri: CONF,
      from: { uri: 'sip:chair@example.org', params: { tag: 'ref-tag' } },
      to: { uri: CONF, params: {} },
      callId: 'refer-idle',
      cseq: 1,
      contact: { uri: 'sip:chair@127.0.0.1:5080', params: {} },
      headers: [{ name: 'Refer-To', value: '<sip:dialled@127.0.0.1:5090>' }],
    });

  it('a conference marked closing refuses the REFER with 404', async () => {
    await conferences.mutate(CONF_ID, (c) => (c ? { ...c, closing: 5 } : undefined));
    const res = await referrals.handle(refer(), CONF_ID, FLOW, '');
    expect(res.status).toBe(404);
    expect(sent).toHaveLength(0);
  });

  it('a dial-out that took its roster place after the sweep looked reports 404 and gives the place back', async () => {
    admits = false;
    expect((await referrals.handle(refer(), CONF_ID, FLOW, '')).status).toBe(202);
    await referrals.settled();
    expect(sent.some((r) => r.method === 'INVITE')).toBe(false);
    expect(allocated).toBe(0);
    expect(await indexes.get(rosterIndexKey(CONF_ID))).toBeNull();
    const final = sent.find((r) => /terminated/.test(getHeader(r, 'Subscription-State') ?? ''));
    expect(final?.body.toString().trim()).toBe('SIP/2.0 404 Conference Not Found');
  });

  it('admitted: the dial-out goes on (INVITE sent)', async () => {
    expect((await referrals.handle(refer(), CONF_ID, FLOW, '')).status).toBe(202);
    await referrals.settled();
    expect(sent.some((r) => r.method === 'INVITE')).toBe(true);
  });
});
