import { describe, expect, it } from 'vitest';
import { getHeader } from './headers.js';
import { generateBranch, generateCallId, generateTag } from './ids.js';
import type { SipRequest } from './message.js';
import { parseMessage } from './parser.js';
import { reasonPhrase } from './reason-phrase.js';
import { createRequest } from './request.js';
import { createResponse } from './response.js';
import { serializeMessage } from './serializer.js';

const req = parseMessage(
  Buffer.from(
    [
      'INVITE sip:factory@example.com SIP/2.0',
      'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp, SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKu',
      'Via: SIP/2.0/UDP 192.0.2.11;branch=z9hG4bKw',
      'Max-Forwards: 69',
      'From: <sip:pub@example.com>;tag=f',
      'To: "Factory" <sip:factory@example.com>',
      'Call-ID: resp-1',
      'CSeq: 3 INVITE',
      'Timestamp: 54',
      'Subject: plant-7/boiler/temp',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  ),
) as SipRequest;

describe('createResponse (§8.2.6)', () => {
  it('copies Via fields, From, To (+tag), Call-ID, CSeq and writes the wire form', () => {
    const res = createResponse(req, 302, undefined, {
      toTag: 'z1',
      headers: [{ name: 'Contact', value: '<sip:conf-x@example.com>;isfocus' }],
    });
    expect(serializeMessage(res).toString()).toBe(
      [
        'SIP/2.0 302 Moved Temporarily',
        'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp, SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKu',
        'Via: SIP/2.0/UDP 192.0.2.11;branch=z9hG4bKw',
        'From: <sip:pub@example.com>;tag=f',
        'To: "Factory" <sip:factory@example.com>;tag=z1',
        'Call-ID: resp-1',
        'CSeq: 3 INVITE',
        'Contact: <sip:conf-x@example.com>;isfocus',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('keeps an existing To tag, echoes Timestamp in a 100, carries a body', () => {
    const again = createResponse(
      {
        ...req,
        headers: [
          ...req.headers.filter((h) => h.name !== 'To'),
          { name: 'To', value: '<sip:f@example.com>;tag=old' },
        ],
      },
      200,
      'Fine',
      { toTag: 'new' },
    );
    expect(getHeader(again, 'To')).toBe('<sip:f@example.com>;tag=old');
    expect(again.reason).toBe('Fine');
    expect(getHeader(createResponse(req, 100), 'Timestamp')).toBe('54');
    expect(getHeader(createResponse(req, 180), 'Timestamp')).toBeUndefined();
    const withBody = createResponse(req, 200, undefined, { body: 'v=0\r\n', contentType: 'application/sdp' });
    expect(getHeader(withBody, 'Content-Type')).toBe('application/sdp');
    expect(getHeader(withBody, 'Content-Length')).toBe('5');
  });

  it('tags To of every response but a 100 when the caller names no tag (§8.2.6.2)', () => {
    const tagOf = (status: number) =>
      /;tag=([^;]+)$/.exec(getHeader(createResponse(req, status), 'To')!)?.[1];
    expect(tagOf(100)).toBeUndefined();
    for (const status of [180, 200, 302, 400, 404, 423, 489, 500, 503, 603]) {
      expect(tagOf(status), String(status)).toMatch(/^[0-9a-f]{16}$/);
    }
    // Two untagged answers to one request are two UAS dialogs' worth of tags, never a shared constant.
    expect(tagOf(404)).not.toBe(tagOf(404));
    // An in-dialog request keeps its tag whatever the status.
    const inDialog = {
      ...req,
      headers: [
        ...req.headers.filter((h) => h.name !== 'To'),
        { name: 'To', value: '<sip:f@example.com>;tag=kept' },
      ],
    };
    expect(getHeader(createResponse(inDialog, 481), 'To')).toBe('<sip:f@example.com>;tag=kept');
  });

  it('default reason phrases', () => {
    expect(reasonPhrase(489)).toBe('Bad Event');
    expect(reasonPhrase(423)).toBe('Interval Too Brief');
    expect(reasonPhrase(499)).toBe('Client Error');
  });
});

describe('createRequest and ids', () => {
  it('adds a From tag, Max-Forwards 70, Call-ID, CSeq', () => {
    const r = createRequest({
      method: 'SUBSCRIBE',
      uri: 'sip:conf-x@example.com',
      from: { displayName: 'Watcher', uri: 'sip:w@example.com', params: {} },
      to: { uri: 'sip:conf-x@example.com', params: {} },
      callId: 'c1',
      cseq: 5,
      contact: { uri: 'sip:w@192.0.2.5', params: {} },
      headers: [{ name: 'Event', value: 'conference' }],
    });
    expect(r.headers.map((h) => h.name)).toEqual([
      'Max-Forwards',
      'From',
      'To',
      'Call-ID',
      'CSeq',
      'Contact',
      'Event',
      'Content-Length',
    ]);
    expect(getHeader(r, 'From')).toMatch(/^"Watcher" <sip:w@example.com>;tag=[0-9a-f]{16}$/);
    expect(getHeader(r, 'CSeq')).toBe('5 SUBSCRIBE');
  });

  it('branch, tag and Call-ID formats', () => {
    expect(generateBranch()).toMatch(/^z9hG4bK[0-9a-f]{24}$/);
    expect(generateBranch()).not.toBe(generateBranch());
    expect(generateTag()).toMatch(/^[0-9a-f]{16}$/);
    expect(generateCallId('example.com')).toMatch(/^[0-9a-f]{32}@example\.com$/);
  });
});
