import { describe, expect, it } from 'vitest';
import {
  acceptRemoteSequence,
  checkInDialogRequest,
  createInDialogRequest,
  dialogFromUacResponse,
  dialogFromUasResponse,
  dialogIdOfRequest,
} from './dialog.js';
import { getHeader, getHeaders } from './headers.js';
import type { SipRequest, SipResponse } from './message.js';
import { parseMessage } from './parser.js';
import { createResponse } from './response.js';

const invite = parseMessage(
  Buffer.from(
    [
      'INVITE sip:conf-x@example.com SIP/2.0',
      'Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2, SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1',
      'Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>',
      'From: "Pub" <sip:pub@example.com>;tag=ft',
      'To: <sip:conf-x@example.com>',
      'Call-ID: dlg-1',
      'CSeq: 12 INVITE',
      'Contact: <sip:pub@192.0.2.10:5062>',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  ),
) as SipRequest;

const ok: SipResponse = createResponse(invite, 200, undefined, {
  toTag: 'tt',
  headers: [
    { name: 'Record-Route', value: '<sip:p2.example.com;lr>, <sip:p1.example.com;lr>' },
    { name: 'Contact', value: '<sip:conf-x@198.51.100.1>;isfocus' },
  ],
});

describe('dialogs (§12)', () => {
  it('UAS side: route set in Record-Route order, remote target from Contact, JSON-safe', () => {
    const d = dialogFromUasResponse(invite, ok);
    expect(d).toEqual({
      callId: 'dlg-1',
      localTag: 'tt',
      remoteTag: 'ft',
      localUri: 'sip:conf-x@example.com',
      remoteUri: 'sip:pub@example.com',
      remoteTarget: 'sip:pub@192.0.2.10:5062',
      routeSet: ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>'],
      localSeq: 0,
      remoteSeq: 12,
      secure: false,
    });
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    const bye = createInDialogRequest(d, 'BYE');
    expect(bye.uri).toBe('sip:pub@192.0.2.10:5062');
    expect(getHeaders(bye, 'Route')).toEqual(['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']);
    expect(getHeader(bye, 'From')).toBe('<sip:conf-x@example.com>;tag=tt');
    expect(getHeader(bye, 'To')).toBe('<sip:pub@example.com>;tag=ft');
    expect(getHeader(bye, 'CSeq')).toBe('1 BYE');
    expect(d.localSeq).toBe(1);
  });

  it('UAC side: reversed route set; ACK reuses the INVITE number; others increment', () => {
    const d = dialogFromUacResponse(invite, ok);
    expect(d.localTag).toBe('ft');
    expect(d.remoteTag).toBe('tt');
    expect(d.remoteTarget).toBe('sip:conf-x@198.51.100.1');
    expect(d.routeSet).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    expect(d.localSeq).toBe(12);
    const ack = createInDialogRequest(d, 'ACK', { cseq: 12 });
    expect(getHeader(ack, 'CSeq')).toBe('12 ACK');
    expect(d.localSeq).toBe(12);
    const info = createInDialogRequest(d, 'INFO', { body: 'x', contentType: 'text/plain' });
    expect(getHeader(info, 'CSeq')).toBe('13 INFO');
    expect(getHeader(info, 'Content-Length')).toBe('1');
  });

  it('a strict first route goes into the Request-URI and the target becomes the last Route', () => {
    const d = {
      ...dialogFromUacResponse(invite, ok),
      routeSet: ['<sip:strict.example.com>', '<sip:p2.example.com;lr>'],
    };
    const req = createInDialogRequest(d, 'BYE');
    expect(req.uri).toBe('sip:strict.example.com');
    expect(getHeaders(req, 'Route')).toEqual(['<sip:p2.example.com;lr>', '<sip:conf-x@198.51.100.1>']);
  });

  it('remote CSeq must increase', () => {
    const d = dialogFromUasResponse(invite, ok);
    const next = (seq: number): SipRequest => ({
      ...invite,
      method: 'INFO',
      headers: [...invite.headers.filter((h) => h.name !== 'CSeq'), { name: 'CSeq', value: `${seq} INFO` }],
    });
    expect(acceptRemoteSequence(d, next(13))).toBe(true);
    expect(acceptRemoteSequence(d, next(13))).toBe(false);
    expect(d.remoteSeq).toBe(13);
  });
});

describe('in-dialog request checks for the focus and notifier (§12.2.2)', () => {
  const bye = (cseq: number, toTag = 'tt') =>
    parseMessage(
      Buffer.from(
        [
          'BYE sip:conf-x@198.51.100.1 SIP/2.0',
          'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKbye',
          'From: <sip:pub@example.com>;tag=ft',
          `To: <sip:conf-x@example.com>;tag=${toTag}`,
          'Call-ID: dlg-1',
          `CSeq: ${cseq} BYE`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      ),
    ) as SipRequest;

  it('names the dialog from To and From tags', () => {
    expect(dialogIdOfRequest(bye(13))).toEqual({ callId: 'dlg-1', localTag: 'tt', remoteTag: 'ft' });
    expect(dialogIdOfRequest(invite)).toBeUndefined();
  });

  it('481 without a dialog, 500 for a CSeq not above the last, else accepted and remembered', () => {
    const dialog = dialogFromUasResponse(invite, ok);
    expect(checkInDialogRequest(undefined, bye(13))).toEqual({
      status: 481,
      reason: 'Call/Transaction Does Not Exist',
    });
    expect(checkInDialogRequest(dialog, bye(11))).toEqual({ status: 500, reason: 'CSeq Out of Order' });
    expect(checkInDialogRequest(dialog, bye(12))).toEqual({ status: 500, reason: 'CSeq Out of Order' });
    expect(checkInDialogRequest(dialog, bye(13))).toBeUndefined();
    expect(dialog.remoteSeq).toBe(13);
  });
});
