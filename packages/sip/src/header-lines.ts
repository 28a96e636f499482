// One pass over the header section: where each line starts and ends, where its first colon is, and the
// control-character check of RFC 3261 §25.1 (only HT, and controls escaped in a quoted-pair, are allowed).
import { SipParseError } from './errors.js';

const HT = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const DEL = 0x7f;

/**
 * Line i of the header section is head[marks[3i], marks[3i+1]) (its CRLF or LF dropped); marks[3i+2] is
 * the offset of its first ':' or -1. Offsets index the decoded string. Valid until the next scan.
 */
export interface HeaderLines {
  marks: Int32Array;
  count: number;
}

const scratch: HeaderLines = { marks: new Int32Array(96), count: 0 };

/**
 * Cuts `head` (buf[from, to) decoded as UTF-8) into lines as split(/\r?\n/) would, leaving out the
 * empty string after a final LF. Throws 400 for a control character other than HT, LF and the CR of a CRLF.
 */
export function scanHeaderLines(buf: Buffer, from: number, to: number, head: string): HeaderLines {
  scratch.count = 0;
  // Every byte is one character (ASCII, the usual case): read the bytes, offsets carry over.
  const suspect = head.length === to - from ? scanBytes(buf, from, to, scratch) : scanText(head, scratch);
  if (suspect) checkControlCharacters(head);
  return scratch;
}

function push(lines: HeaderLines, start: number, end: number, colon: number): void {
  const at = lines.count * 3;
  if (at + 3 > lines.marks.length) {
    const bigger = new Int32Array(lines.marks.length * 2);
    bigger.set(lines.marks);
    lines.marks = bigger;
  }
  lines.marks[at] = start;
  lines.marks[at + 1] = end;
  lines.marks[at + 2] = colon;
  lines.count++;
}

/** Returns whether a control character other than HT, LF and the CR of a CRLF was seen. */
function scanBytes(buf: Buffer, from: number, to: number, lines: HeaderLines): boolean {
  let suspect = false;
  let lineStart = from;
  let colon = -1;
  for (let i = from; i < to; i++) {
    const code = buf[i];
    if (code > COLON) {
      if (code === DEL) suspect = true;
      continue;
    }
    if (code === COLON) {
      if (colon < 0) colon = i - from;
      continue;
    }
    if (code >= 0x20 || code === HT) continue;
    if (code === LF) {
      const end = i > lineStart && buf[i - 1] === CR ? i - 1 : i;
      push(lines, lineStart - from, end - from, colon);
      lineStart = i + 1;
      colon = -1;
    } else if (code !== CR || buf[i + 1] !== LF) suspect = true;
  }
  if (lineStart < to) push(lines, lineStart - from, to - from, colon);
  return suspect;
}

/** scanBytes over the decoded text, for a header section holding multi-byte characters. */
function scanText(head: string, lines: HeaderLines): boolean {
  let suspect = false;
  let lineStart = 0;
  let colon = -1;
  for (let i = 0; i < head.length; i++) {
    const code = head.charCodeAt(i);
    if (code > COLON) {
      if (code === DEL) suspect = true;
      continue;
    }
    if (code === COLON) {
      if (colon < 0) colon = i;
      continue;
    }
    if (code >= 0x20 || code === HT) continue;
    if (code === LF) {
      const end = i > lineStart && head.charCodeAt(i - 1) === CR ? i - 1 : i;
      push(lines, lineStart, end, colon);
      lineStart = i + 1;
      colon = -1;
    } else if (code !== CR || head.charCodeAt(i + 1) !== LF) suspect = true;
  }
  if (lineStart < head.length) push(lines, lineStart, head.length, colon);
  return suspect;
}

/** The exact rule, run only when a scan saw a suspect character. */
function checkControlCharacters(head: string): void {
  for (let i = 0; i < head.length; i++) {
    const code = head.charCodeAt(i);
    if ((code >= 0x20 && code !== DEL) || code === HT || code === LF) continue;
    if (code === CR && head.charCodeAt(i + 1) === LF) continue;
    // A quoted-pair may escape any control but CR and LF (§25.1; RFC 4475 §3.1.1.2).
    if (code !== CR && i > 0 && head.charCodeAt(i - 1) === BACKSLASH) continue;
    throw new SipParseError(400, 'Control character in header section');
  }
}
