// The least of the NATS client protocol (docs.nats.io, "Client Protocol") a benchmark needs over a raw
// TCP socket: CONNECT, SUB, PUB and PONG lines out; a streaming reader of what the server sends (INFO,
// MSG with its payload, PING, PONG, +OK, -ERR). Only what a load generator uses; not a client library.

export const encodeConnect = (): Buffer =>
  Buffer.from('CONNECT {"verbose":false,"pedantic":false,"protocol":1,"lang":"bench","version":"0"}\r\n');
export const encodeSub = (subject: string, sid: number): Buffer => Buffer.from(`SUB ${subject} ${sid}\r\n`);
export const encodePub = (subject: string, payload: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`PUB ${subject} ${payload.length}\r\n`), payload, CRLF]);
export const PING = Buffer.from('PING\r\n');
export const PONG = Buffer.from('PONG\r\n');
const CRLF = Buffer.from('\r\n');

export class NatsFrameError extends Error {}

export type NatsEvent =
  | { op: 'MSG'; subject: string; sid: number; replyTo?: string; buf: Buffer; start: number; end: number }
  | { op: 'INFO' | '-ERR'; text: string }
  | { op: 'PING' | 'PONG' | '+OK' };

/** Longest control line accepted before the reader gives up on the stream (the server's default is 4 KiB). */
const MAX_LINE = 4_096;

/**
 * Receives the server's bytes in arbitrary chunks and calls `onEvent` per protocol message; a MSG's
 * payload is given as bounds into a buffer valid only during the call.
 */
export class NatsFrameReader {
  private pending: Buffer | undefined;

  constructor(private readonly onEvent: (event: NatsEvent) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let offset = 0;
    while (offset < buf.length) {
      const eol = buf.indexOf(CRLF, offset);
      if (eol < 0) {
        if (buf.length - offset > MAX_LINE) throw new NatsFrameError('control line too long');
        break;
      }
      const line = buf.toString('latin1', offset, eol);
      const space = line.indexOf(' ');
      const op = (space < 0 ? line : line.slice(0, space)).toUpperCase();
      if (op === 'MSG') {
        const args = line.slice(4).trim().split(/ +/);
        if (args.length !== 3 && args.length !== 4) throw new NatsFrameError(`bad MSG line: ${line}`);
        const size = Number(args[args.length - 1]);
        const sid = Number(args[1]);
        if (!/^\d+$/.test(args[args.length - 1]) || !Number.isInteger(sid))
          throw new NatsFrameError(`bad MSG line: ${line}`);
        const start = eol + 2;
        if (start + size + 2 > buf.length) break;
        if (buf[start + size] !== 0x0d || buf[start + size + 1] !== 0x0a)
          throw new NatsFrameError('MSG payload not followed by CRLF');
        this.onEvent({
          op: 'MSG',
          subject: args[0],
          sid,
          ...(args.length === 4 ? { replyTo: args[2] } : {}),
          buf,
          start,
          end: start + size,
        });
        offset = start + size + 2;
        continue;
      }
      if (op === 'INFO' || op === '-ERR') this.onEvent({ op, text: line.slice(op.length).trim() });
      else if (op === 'PING' || op === 'PONG' || op === '+OK') this.onEvent({ op });
      else throw new NatsFrameError(`unknown operation: ${line.slice(0, 40)}`);
      offset = eol + 2;
    }
    if (offset < buf.length) this.pending = Buffer.from(buf.subarray(offset));
  }
}
