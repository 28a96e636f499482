import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AccessList, parseAccessList } from '@sip-pubsub/events';
import { ConfigError, createLogger, InProcessBus, InProcessKvStore, JsonBucket } from '@sip-pubsub/platform';
import {
  conferenceRecordSchema,
  counterSchema,
  indexRecordSchema,
  type LegSpec,
  participantRecordSchema,
  topicRecordSchema,
} from '@sip-pubsub/proto';
import { createRequest, getHeader, parseNameAddr, type SipRequest, type SipResponse } from '@sip-pubsub/sip';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dialogOwnerRefusal, identityUri } from './access.js';
import { Focus, type FocusOptions } from './focus.js';
import type { PlacedLeg, RelayDirectory } from './relays.js';

class Relays implements RelayDirectory {
  allocated: LegSpec[] = [];
  updated: LegSpec[] = [];
  released: string[] = [];
  async allocate(spec: LegSpec): Promise<PlacedLeg> {
    this.allocated.push(spec);
    return { relayId: 'r', relayAddress: '127.0.0.1:1', host: '192.0.2.10', port: 20_000 };
  }
  async update(_a: string, spec: LegSpec): Promise<void> {
    this.updated.push(spec);
  }
  async release(_a: string, _c: string, legId: string): Promise<boolean> {
    this.released.push(legId);
    return true;
  }
}

const offer = (direction: string) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=text 40000 RTP/AVP 98',
    'a=rtpmap:98 t140/1000',
    `a=${direction}`,
    '',
  ].join('\r\n');

describe('Focus identity and access', () => {
  let bus: InProcessBus;
  let relays: Relays;
  let options: FocusOptions;
  let focus: Focus;
  let acl = AccessList.OPEN;

  beforeEach(async () => {
    bus = new InProcessBus();
    const kv = new InProcessKvStore();
    relays = new Relays();
    acl = AccessList.OPEN;
    options = {
      domain: 'example.net',
      onExistingTopic: 'redirect',
      invalidData: 'drop',
      maxConferences: 10,
      maxLegsPerConference: 10,
      stores: {
        conferences: new JsonBucket(await kv.bucket('conferences'), conferenceRecordSchema),
        topics: new JsonBucket(await kv.bucket('topics'), topicRecordSchema),
        participants: new JsonBucket(await kv.bucket('participants'), participantRecordSchema),
        counters: new JsonBucket(await kv.bucket('counters'), counterSchema),
        indexes: new JsonBucket(await kv.bucket('indexes'), indexRecordSchema),
      },
      bus,
      relays,
      logger: createLogger('test', { level: 'silent' }),
      mediaHost: '192.0.2.1',
      access: () => acl,
    };
    focus = new Focus(options);
  });
  afterEach(() => bus.close());

  const request = (
    method: string,
    uri: string,
    o: {
      user?: string;
      callId?: string;
      fromTag?: string;
      toTag?: string;
      cseq?: number;
      sdp?: string;
      subject?: string;
    },
  ): SipRequest =>
    createRequest({
      method,
      uri,
      from: { uri: `sip:${o.user ?? 'alice'}@example.org`, params: { tag: o.fromTag ?? 'f1' } },
      to: { uri, params: o.toTag ? { tag: o.toTag } : {} },
      callId: o.callId ?? 'c1',
      cseq: o.cseq ?? 1,
      contact: { uri: `sip:${o.user ?? 'alice'}@127.0.0.1:5070`, params: {} },
      headers: [
        {
          name: 'Via',
          value: `SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK${Math.random().toString(36).slice(2)}`,
        },
        ...(o.subject ? [{ name: 'Subject', value: o.subject }] : []),
      ],
      ...(o.sdp ? { body: o.sdp, contentType: 'application/sdp' } : {}),
    });
  const as = async (identity: string, req: SipRequest): Promise<SipResponse> => {
    const res = await focus.handle(
      req,
      { transport: 'udp', remoteHost: '127.0.0.1', remotePort: 5070 },
      identity,
    );
    if (!res) throw new Error('no response');
    return res;
  };
  const create = async (identity: string, topic: string) => {
    const res = await as(
      identity,
      request('INVITE', 'sip:factory@example.net', { user: identity || 'dave', subject: topic }),
    );
    return { res, uri: res.status === 302 ? parseNameAddr(getHeader(res, 'Contact')!).uri : '' };
  };

  it('the participant record and roster carry the authenticated identity; its dialog refuses others', async () => {
    const { uri } = await create('alice', 'plant/1');
    const joined = await as('alice', request('INVITE', uri, { sdp: offer('sendonly'), user: 'alice' }));
    expect(joined.status).toBe(200);
    const toTag = parseNameAddr(getHeader(joined, 'To')!).params.tag!;
    const [key] = await options.stores.participants.keys();
    const record = (await options.stores.participants.get(key))!.value;
    expect(record).toMatchObject({ identity: 'alice', aor: 'sip:alice@example.net' });

    // bob knows alice's Call-ID and tags: re-INVITE, BYE, UPDATE and INFO in her dialog are all refused.
    const inDialog = (method: string, cseq: number, sdp?: string) =>
      request(method, uri, { user: 'alice', toTag, cseq, ...(sdp ? { sdp } : {}) });
    for (const [i, method] of ['INVITE', 'BYE', 'UPDATE', 'INFO'].entries()) {
      const res = await as(
        'bob',
        inDialog(method, 2 + i, method === 'INVITE' ? offer('recvonly') : undefined),
      );
      expect(res, method).toMatchObject({ status: 403, reason: 'Dialog Belongs To Another Identity' });
    }
    expect(relays.updated).toHaveLength(0);
    expect(relays.released).toHaveLength(0);
    expect((await as('alice', inDialog('BYE', 9))).status).toBe(200);
    expect(relays.released).toHaveLength(1);
  });

  it('the creator is the authenticated identity', async () => {
    const { uri } = await create('carol', 'plant/creator');
    expect(uri).toMatch(/^sip:conf-/);
    const [confKey] = await options.stores.conferences.keys();
    expect((await options.stores.conferences.get(confKey))!.value.creator).toBe('sip:carol@example.net');
  });

  it('refuses create, publish and subscribe as the access list says, with a reason, and follows its changes', async () => {
    acl = new AccessList(
      parseAccessList(
        [
          'deny bob create plant/#',
          'deny bob publish plant/+/temp',
          'allow * create,publish,subscribe #',
        ].join('\n'),
      ),
      'deny',
    );
    expect((await create('bob', 'plant/a')).res).toMatchObject({
      status: 403,
      reason: 'Not Allowed To Create This Topic',
    });
    const { uri } = await create('alice', 'plant/b/temp');
    const pub = await as('bob', request('INVITE', uri, { user: 'bob', sdp: offer('sendonly') }));
    expect(pub).toMatchObject({ status: 403, reason: 'Not Allowed To Publish To This Topic' });
    // sendrecv needs publish too; recvonly only subscribe.
    expect(
      (await as('bob', request('INVITE', uri, { user: 'bob', callId: 'c2', sdp: offer('sendrecv') }))).status,
    ).toBe(403);
    const sub = await as(
      'bob',
      request('INVITE', uri, { user: 'bob', callId: 'c3', sdp: offer('recvonly') }),
    );
    expect(sub.status).toBe(200);
    // A role change by re-INVITE is checked too.
    const toTag = parseNameAddr(getHeader(sub, 'To')!).params.tag!;
    const up = await as(
      'bob',
      request('INVITE', uri, { user: 'bob', callId: 'c3', toTag, cseq: 2, sdp: offer('sendonly') }),
    );
    expect(up).toMatchObject({ status: 403, reason: 'Not Allowed To Publish To This Topic' });
    expect(relays.updated).toHaveLength(0);
    // The list changes (a reload): bob may publish now.
    acl = new AccessList(parseAccessList('allow * * #'), 'deny');
    const again = await as(
      'bob',
      request('INVITE', uri, { user: 'bob', callId: 'c3', toTag, cseq: 3, sdp: offer('sendonly') }),
    );
    expect(again.status).toBe(200);
    expect(relays.updated).toHaveLength(1);
  });

  it('without authentication nothing changes: From is the roster entity and any dialog request passes', async () => {
    focus = new Focus({ ...options, access: undefined });
    const { uri } = await create('', 'open/topic');
    const joined = await as('', request('INVITE', uri, { sdp: offer('sendonly'), user: 'dave' }));
    const [key] = await options.stores.participants.keys();
    const record = (await options.stores.participants.get(key))!.value;
    expect(record.aor).toBe('sip:dave@example.org');
    expect(record.identity).toBeUndefined();
    const toTag = parseNameAddr(getHeader(joined, 'To')!).params.tag!;
    expect((await as('', request('BYE', uri, { user: 'dave', toTag, cseq: 2 }))).status).toBe(200);
  });

  it('dialogOwnerRefusal and identityUri', () => {
    expect(dialogOwnerRefusal('alice', 'alice')).toBeUndefined();
    expect(dialogOwnerRefusal(undefined, 'bob')).toBeUndefined();
    expect(dialogOwnerRefusal('alice', '')).toBeUndefined();
    expect(dialogOwnerRefusal('alice', 'bob')).toBe('Dialog Belongs To Another Identity');
    expect(identityUri('a b@c', 'example.net')).toBe('sip:a%20b%40c@example.net');
  });
});
