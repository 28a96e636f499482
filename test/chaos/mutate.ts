// A seeded mutation engine for the fuzz job: SIP text and RTP packets, each bent by a few random edits.
// Lines that decide where the broker sends traffic (Via, Contact, Route, SDP c=) are never edited, only
// dropped or repeated, so every mutated message still points at loopback.

/** mulberry32: small, fast, good enough to make a run reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Dice {
  constructor(readonly random: () => number) {}
  int(max: number): number {
    return Math.floor(this.random() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Lines naming where requests and media go: kept byte for byte (they may be dropped or repeated). */
const PROTECTED = /^\s*(via|v|contact|m|route|record-route|refer-to|r)\s*:|^c=/i;

const SPECIAL = [
  0x00, 0x0d, 0x0a, 0x2c, 0x3b, 0x3a, 0x3c, 0x3e, 0x22, 0x20, 0x09, 0xff, 0xc3, 0x25, 0x5c, 0x2a,
];
const VALUES = [
  '',
  ',,,',
  ';;;',
  '<>',
  '"',
  '*',
  'sip:',
  '<<<<<<<<<<',
  '-1',
  '4294967296',
  '99999999999999999999',
  '\u2028',
  'é',
  'a'.repeat(3000),
  ';tag=',
  '<sip:a@127.0.0.1>;tag=;tag=',
  `${';p=1'.repeat(400)}`,
  '"unterminated <sip:x@127.0.0.1>',
];

/** Applies 1-4 random edits to a SIP message; `maxSize` bounds what the edits may grow it to. */
export function mutateSip(template: string, dice: Dice, maxSize: number): Buffer {
  let lines = template.split('\r\n').map((l) => Buffer.from(l, 'utf8'));
  const editable = () =>
    lines.map((l, i) => (PROTECTED.test(l.toString('latin1')) ? -1 : i)).filter((i) => i >= 0);
  const edits = 1 + dice.int(4);
  let tail: 'keep' | 'lf' | 'cut' = 'keep';
  let cutAt = 0;
  for (let e = 0; e < edits; e++) {
    const candidates = editable();
    const at = candidates.length > 0 ? dice.pick(candidates) : 0;
    const line = lines[at] ?? Buffer.alloc(0);
    const pos = line.length > 0 ? dice.int(line.length) : 0;
    switch (dice.int(14)) {
      case 0: // flip a bit
        if (line.length > 0) line[pos] ^= 1 << dice.int(8);
        break;
      case 1: // a delimiter or odd byte in place of another
        if (line.length > 0) line[pos] = dice.pick(SPECIAL);
        break;
      case 2: // delete a range
        lines[at] = Buffer.concat([line.subarray(0, pos), line.subarray(pos + 1 + dice.int(20))]);
        break;
      case 3: // repeat a range
        lines[at] = Buffer.concat([
          line.subarray(0, pos + 1),
          line.subarray(pos, pos + 1 + dice.int(40)),
          line.subarray(pos + 1),
        ]);
        break;
      case 4: // random bytes
        lines[at] = Buffer.concat([line.subarray(0, pos), dice.bytes(1 + dice.int(50)), line.subarray(pos)]);
        break;
      case 5: // drop a line (any, protected too)
        lines.splice(dice.int(lines.length), 1);
        break;
      case 6: // repeat a line
        {
          const i = dice.int(lines.length);
          lines.splice(i, 0, Buffer.from(lines[i]));
        }
        break;
      case 7: // swap two lines
        {
          const i = dice.int(lines.length);
          const j = dice.int(lines.length);
          [lines[i], lines[j]] = [lines[j], lines[i]];
        }
        break;
      case 8: // Content-Length that lies
        lines = lines.map((l) =>
          /^(content-length|l)\s*:/i.test(l.toString('latin1'))
            ? Buffer.from(
                `Content-Length: ${dice.pick(['-1', '0', '1', '99999', 'x', '1e3', ' 12 ', String(dice.int(3000))])}`,
              )
            : l,
        );
        break;
      case 9: // an interesting value for a header
        {
          const text = line.toString('latin1');
          const colon = text.indexOf(':');
          if (colon > 0) lines[at] = Buffer.from(`${text.slice(0, colon + 1)} ${dice.pick(VALUES)}`, 'utf8');
        }
        break;
      case 10: // a huge extension header
        lines.splice(
          1 + dice.int(Math.max(1, lines.length - 2)),
          0,
          Buffer.from(`X-Fuzz: ${'z'.repeat(dice.int(maxSize))}`),
        );
        break;
      case 11: // bare LF or CR line ends
        tail = 'lf';
        break;
      case 12: // the request line bent: method, URI or version
        lines[0] = Buffer.from(
          lines[0]
            .toString('latin1')
            .replace(/^\S+/, (m) => dice.pick([m.toLowerCase(), `${m}X`, 'FOO', '', 'SIP/2.0', m]))
            .replace(/SIP\/2\.0$/, (v) => dice.pick([v, 'SIP/3.0', 'SIP/2.0 ', 'sip/2.0', 'SIP/2'])),
        );
        break;
      case 13: // cut short
        tail = 'cut';
        cutAt = dice.random();
        break;
    }
  }
  let out = Buffer.concat(
    lines.flatMap((l, i) =>
      i === 0 ? [l] : [Buffer.from(tail === 'lf' && dice.chance(0.5) ? '\n' : '\r\n'), l],
    ),
  );
  if (tail === 'cut') out = out.subarray(0, Math.floor(out.length * cutAt));
  if (out.length > maxSize) out = out.subarray(0, maxSize);
  return out;
}

/** Whether a mutated message still names only the original routing lines (so all traffic stays on loopback). */
export function routesOnlyTo(message: Buffer, template: string): boolean {
  const allowed = new Set(template.split('\r\n').filter((l) => PROTECTED.test(l)));
  for (const line of message.toString('latin1').split(/\r\n|\n|\r/))
    if (PROTECTED.test(line) && !allowed.has(line)) return false;
  // A header folded onto the previous line could smuggle a host into a protected one.
  return !/(?:\r\n|\n|\r)[ \t]/.test(message.toString('latin1'));
}

/** RTP header (RFC 3550 §5.1) around a payload. */
export function rtpPacket(
  pt: number,
  seq: number,
  ts: number,
  ssrc: number,
  payload: Buffer,
  marker = false,
): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE(ts >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}

/** RFC 2198 payload: redundant blocks (4-byte headers) then the primary (1-byte header), RFC 4103 §4. */
export function redPayload(
  primaryPt: number,
  primary: Buffer,
  redundant: { offset: number; data: Buffer }[],
): Buffer {
  const headers = redundant.map((r) => {
    const h = Buffer.alloc(4);
    h[0] = 0x80 | primaryPt;
    h.writeUInt16BE(((r.offset & 0x3fff) << 2) | ((r.data.length >> 8) & 0x03), 1);
    h[3] = r.data.length & 0xff;
    return h;
  });
  return Buffer.concat([
    ...headers,
    Buffer.from([primaryPt & 0x7f]),
    ...redundant.map((r) => r.data),
    primary,
  ]);
}

/** A valid T.140/RED packet carrying one SenML line, then bent by 0-3 random edits. */
export function mutateRtp(dice: Dice, seq: number, ts: number, ssrc: number): Buffer {
  const line = Buffer.from(`[{"n":"fuzz","v":${dice.int(1000)}}]\u2028`, 'utf8');
  const redundant = dice.chance(0.5) ? [{ offset: 300, data: Buffer.from('[{"n":"x","v":1}]\u2028') }] : [];
  let packet = rtpPacket(dice.chance(0.8) ? 100 : 98, seq, ts, ssrc, redPayload(98, line, redundant));
  const edits = dice.int(4);
  for (let e = 0; e < edits; e++) {
    const pos = dice.int(packet.length);
    switch (dice.int(10)) {
      case 0:
        packet[pos] ^= 1 << dice.int(8);
        break;
      case 1: // CSRC count, extension and padding bits in the first byte
        packet[0] = (packet[0] & 0xc0) | dice.int(64);
        break;
      case 2: // payload type
        packet[1] = (packet[1] & 0x80) | dice.pick([0, 72, 73, 96, 98, 100, 127, dice.int(128)]);
        break;
      case 3: // truncate, possibly into the header
        packet = packet.subarray(0, dice.int(packet.length));
        break;
      case 4: // a RED block header whose length runs past the packet
        if (packet.length > 16) packet.writeUInt16BE(0xffff, 13);
        break;
      case 5: // a chain of F-bit headers without a primary
        packet = Buffer.concat([packet.subarray(0, 12), Buffer.alloc(40, 0xe2)]);
        break;
      case 6: // invalid UTF-8 and stray separators in the text
        packet = Buffer.concat([packet, Buffer.from([0xc3, 0x28, 0xe2, 0x80, 0xa8, 0xff, 0xfe])]);
        break;
      case 7: // a big packet
        packet = Buffer.concat([packet, dice.bytes(1000 + dice.int(8000))]);
        break;
      case 8: // stale or far sequence number
        if (packet.length >= 4) packet.writeUInt16BE(dice.int(65536), 2);
        break;
      case 9: // random bytes
        packet = Buffer.concat([packet.subarray(0, pos), dice.bytes(1 + dice.int(30)), packet.subarray(pos)]);
        break;
    }
  }
  return packet;
}
