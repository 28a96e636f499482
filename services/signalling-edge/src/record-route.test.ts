import { createResponse, getHeaders, parseMessage, type SipRequest } from '@sip-pubsub/sip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consumeOwnRoutes,
  copyRecordRoute,
  createsDialog,
  type EdgeAddress,
  namesEdge,
  recordRoute,
  recordRouteValue,
  removeOwnTopRoutes,
} from './record-route.js';

const edge: EdgeAddress = {
  host: '192.0.2.10',
  domain: 'pubsub.example.com',
  ports: { udp: 5070, tcp: 5070, ws: 5066 },
};

function request(method: string, uri: string, extra: string[] = [], toTag = ''): SipRequest {
  const text = [
    `${method} ${uri} SIP/2.0`,
    'Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK-1',
    'Max-Forwards: 70',
    'From: <sip:alice@example.net>;tag=a1',
    `To: <sip:conf-abc@pubsub.example.com>${toTag ? `;tag=${toTag}` : ''}`,
    'Call-ID: c1',
    `CSeq: 1 ${method}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const msg = parseMessage(Buffer.from(text));
  if (msg.kind !== 'request') throw new Error('not a request');
  return msg;
}

describe('Record-Route at the edge', () => {
  it('names the advertised host, the port of the flow transport and lr', () => {
    expect(recordRouteValue(edge, 'udp')).toBe('<sip:192.0.2.10:5070;transport=udp;lr>');
    expect(recordRouteValue(edge, 'ws')).toBe('<sip:192.0.2.10:5066;transport=ws;lr>');
    expect(recordRouteValue({ ...edge, host: '2001:db8::1' }, 'tcp')).toBe(
      '<sip:[2001:db8::1]:5070;transport=tcp;lr>',
    );
  });

  it('record-routes out-of-dialog INVITE, SUBSCRIBE and REFER, not in-dialog ones or others', () => {
    expect(createsDialog(request('INVITE', 'sip:conf-abc@pubsub.example.com'))).toBe(true);
    expect(createsDialog(request('SUBSCRIBE', 'sip:conf-abc@pubsub.example.com'))).toBe(true);
    expect(createsDialog(request('REFER', 'sip:conf-abc@pubsub.example.com'))).toBe(true);
    expect(createsDialog(request('INVITE', 'sip:conf-abc@pubsub.example.com', [], 'f1'))).toBe(false);
    expect(createsDialog(request('OPTIONS', 'sip:conf-abc@pubsub.example.com'))).toBe(false);
    const req = request('INVITE', 'sip:conf-abc@pubsub.example.com', [
      'Record-Route: <sip:p1.example.net;lr>',
    ]);
    recordRoute(req, edge, 'udp');
    expect(getHeaders(req, 'Record-Route')).toEqual([
      '<sip:192.0.2.10:5070;transport=udp;lr>',
      '<sip:p1.example.net;lr>',
    ]);
  });

  it('copies the request Record-Route into a dialog-creating response that lacks it, keeping an owner copy', () => {
    const req = request('INVITE', 'sip:conf-abc@pubsub.example.com');
    recordRoute(req, edge, 'udp');
    const ok = createResponse(req, 200, 'OK', { toTag: 'f1' });
    copyRecordRoute(req, ok);
    expect(getHeaders(ok, 'Record-Route')).toEqual(['<sip:192.0.2.10:5070;transport=udp;lr>']);
    const redirect = createResponse(req, 302, 'Moved Temporarily', { toTag: 'f1' });
    copyRecordRoute(req, redirect);
    expect(getHeaders(redirect, 'Record-Route')).toEqual([]);
  });

  it('consumes the Route naming us (loose routing) and leaves the next hop', () => {
    const req = request('BYE', 'sip:conf-abc@pubsub.example.com', [
      'Route: <sip:192.0.2.10:5070;transport=udp;lr>, <sip:p2.example.net;lr>',
    ]);
    expect(consumeOwnRoutes(req, edge)).toBe(1);
    expect(getHeaders(req, 'Route')).toEqual(['<sip:p2.example.net;lr>']);
    expect(req.uri).toBe('sip:conf-abc@pubsub.example.com');
  });

  it('takes the last Route as Request-URI after a strict router (§16.4)', () => {
    const req = request('BYE', 'sip:192.0.2.10:5070;transport=udp', [
      'Route: <sip:conf-abc@pubsub.example.com>',
    ]);
    consumeOwnRoutes(req, edge);
    expect(req.uri).toBe('sip:conf-abc@pubsub.example.com');
    expect(getHeaders(req, 'Route')).toEqual([]);
  });

  it('recognises the bare domain (SRV) and the advertised host only on our ports', () => {
    const uri = (host: string, port?: number, user?: string) => ({
      scheme: 'sip' as const,
      host,
      port,
      user,
      params: {},
      headers: {},
    });
    expect(namesEdge(uri('pubsub.example.com'), edge)).toBe(true);
    expect(namesEdge(uri('192.0.2.10', 5070), edge)).toBe(true);
    expect(namesEdge(uri('192.0.2.10'), edge)).toBe(false);
    expect(namesEdge(uri('192.0.2.10', 5071), edge)).toBe(false);
    expect(namesEdge(uri('pubsub.example.com', 5070, 'conf-abc'), edge)).toBe(false);
  });

  it('property: after removing our top Routes, none names us and the foreign ones stay in order', () => {
    const ours = fc.constantFrom(
      '<sip:192.0.2.10:5070;transport=udp;lr>',
      '<sip:192.0.2.10:5066;transport=ws;lr>',
      '<sip:pubsub.example.com;lr>',
    );
    const foreign = fc
      .tuple(
        fc.constantFrom('p1.example.net', '198.51.100.1', '192.0.2.10'),
        fc.integer({ min: 1, max: 65535 }),
      )
      .filter(([, port]) => port !== 5070 && port !== 5066)
      .map(([host, port]) => `<sip:${host}:${port};lr>`);
    fc.assert(
      fc.property(fc.array(ours, { maxLength: 4 }), fc.array(foreign, { maxLength: 4 }), (mine, theirs) => {
        const lines = [...mine, ...theirs].map((r) => `Route: ${r}`);
        const req = request('NOTIFY', 'sip:alice@198.51.100.7:5062', lines, 'x');
        expect(removeOwnTopRoutes(req, edge)).toBe(mine.length);
        expect(getHeaders(req, 'Route')).toEqual(theirs);
      }),
    );
  });
});
