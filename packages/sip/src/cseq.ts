import { SipParseError } from './errors.js';
import { isToken } from './header-values.js';
import { clip } from './uri.js';

export interface CSeq {
  seq: number;
  method: string;
}

/** RFC 3261 §20.16: `1*DIGIT LWS Method`, the number below 2**31 (§8.1.1.5). */
export function parseCSeq(text: string): CSeq {
  const match = /^\s*(\d{1,10})\s+(\S+)\s*$/.exec(text);
  if (!match || !isToken(match[2])) throw new SipParseError(400, `Malformed CSeq: ${clip(text)}`);
  const seq = Number(match[1]);
  if (seq > 0x7fffffff) throw new SipParseError(400, `CSeq number out of range: ${clip(match[1])}`);
  return { seq, method: match[2] };
}

export function formatCSeq(cseq: CSeq): string {
  return `${cseq.seq} ${cseq.method}`;
}
