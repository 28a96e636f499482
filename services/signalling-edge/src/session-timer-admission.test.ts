// The edge lets RFC 4028 session-timer requests through to the focus (which implements them) and
// refuses malformed timer headers itself.
import { type Flow, parseMessage, type SipRequest } from '@sip-pubsub/sip';
import { describe, expect, it } from 'vitest';
import { EdgeAdmission } from './admission.js';

const flow: Flow = {
  transport: 'udp',
  remoteHost: '192.0.2.9',
  remotePort: 5060,
  localHost: '127.0.0.1',
  localPort: 5060,
};

function invite(extra: string[]): SipRequest {
  const lines = [
    'INVITE sip:conf-abc@localhost SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKst1',
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=f1',
    'To: <sip:conf-abc@localhost>',
    'Call-ID: st-1',
    'CSeq: 1 INVITE',
    'Contact: <sip:a@192.0.2.9>',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

describe('session timers at the edge', () => {
  const admission = new EdgeAdmission({ ratePerSource: null, maxInflight: 100, mergeWindowMs: 32_000 });

  it('admits Require: timer (420 Bad Extension before) but still refuses other unknown option tags', () => {
    expect(
      admission.admit(invite(['Require: timer', 'Session-Expires: 1800;refresher=uac']), flow, undefined)
        .kind,
    ).toBe('admit');
    expect(admission.admit(invite(['Require: timer, teleport']), flow, undefined)).toMatchObject({
      kind: 'refuse',
      status: 420,
      headers: [{ name: 'Unsupported', value: 'teleport' }],
    });
  });

  it('refuses a malformed Session-Expires or Min-SE with 400 naming the header', () => {
    const bad = admission.admit(invite(['Session-Expires: 1800;refresher=proxy']), flow, undefined);
    expect(bad).toMatchObject({ kind: 'refuse', status: 400 });
    expect(bad.kind === 'refuse' && bad.reason).toMatch(/Session-Expires/);
    const min = admission.admit(invite(['Min-SE: soon']), flow, undefined);
    expect(min).toMatchObject({ kind: 'refuse', status: 400 });
    expect(min.kind === 'refuse' && min.reason).toMatch(/Min-SE/);
  });
});
