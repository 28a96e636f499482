import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isValidCompound,
  parseRtcp,
  type RtcpPacket,
  RtcpParseError,
  RtcpSerializeError,
  SDES_CNAME,
  serializeRtcp,
} from './rtcp-packet.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const SR = '80c8 0006 11223344 83aa7e80 80000000 00001000 0000000a 00000100';
const RR = `81c9 0007 aabbccdd
  11223344 05fffffe 00010010 00000020 7e808000 00010000`;
const SDES = '81ca 0004 11223344 0106 73656e736f72 00000000';
const BYE = '81cb 0003 11223344 04 676f6e65 000000';

describe('RTCP wire vectors (RFC 3550 §6.4–§6.6)', () => {
  it('sender report without report blocks', () => {
    const [sr] = parseRtcp(hex(SR));
    expect(sr).toEqual({
      type: 'sr',
      ssrc: 0x11223344,
      ntpSeconds: 0x83aa7e80,
      ntpFraction: 0x80000000,
      rtpTimestamp: 0x1000,
      packetCount: 10,
      octetCount: 256,
      reports: [],
    });
    expect(serializeRtcp([sr])).toEqual(hex(SR));
  });

  it('receiver report with a block: fraction, negative cumulative loss, extended sequence, jitter, LSR, DLSR', () => {
    const [rr] = parseRtcp(hex(RR));
    expect(rr).toEqual({
      type: 'rr',
      ssrc: 0xaabbccdd,
      reports: [
        {
          ssrc: 0x11223344,
          fractionLost: 5,
          cumulativeLost: -2,
          highestSequence: 0x10010,
          jitter: 32,
          lastSr: 0x7e808000,
          delaySinceLastSr: 0x10000,
        },
      ],
    });
    expect(serializeRtcp([rr])).toEqual(hex(RR));
  });

  it('SDES CNAME chunk padded to a word boundary with the END item', () => {
    const [sdes] = parseRtcp(hex(SDES));
    expect(sdes).toEqual({
      type: 'sdes',
      chunks: [{ ssrc: 0x11223344, items: [{ type: SDES_CNAME, text: 'sensor' }] }],
    });
    expect(serializeRtcp([sdes])).toEqual(hex(SDES));
  });

  it('SDES item ending on a word boundary gets a whole word of nulls', () => {
    const wire = hex('81ca 0003 00000001 0102 6162 00000000');
    expect(parseRtcp(wire)).toEqual([
      { type: 'sdes', chunks: [{ ssrc: 1, items: [{ type: 1, text: 'ab' }] }] },
    ]);
    expect(serializeRtcp(parseRtcp(wire))).toEqual(wire);
  });

  it('BYE with a reason', () => {
    const [bye] = parseRtcp(hex(BYE));
    expect(bye).toEqual({ type: 'bye', ssrcs: [0x11223344], reason: 'gone' });
    expect(serializeRtcp([bye])).toEqual(hex(BYE));
  });

  it('compound RR + SDES + BYE in one datagram', () => {
    const wire = hex(`${RR} ${SDES} ${BYE}`);
    const parts = parseRtcp(wire);
    expect(parts.map((p) => p.type)).toEqual(['rr', 'sdes', 'bye']);
    expect(isValidCompound(parts)).toBe(true);
    expect(serializeRtcp(parts)).toEqual(wire);
    expect(isValidCompound(parseRtcp(hex(SDES)))).toBe(false);
  });

  it('padding on the last packet is removed; APP packets are kept as they are', () => {
    expect(parseRtcp(hex('a0c9 0002 aabbccdd 00000004'))).toEqual([
      { type: 'rr', ssrc: 0xaabbccdd, reports: [] },
    ]);
    const app = hex('80cc 0002 11223344 6e616d65');
    const parts = parseRtcp(app);
    expect(parts[0]).toMatchObject({ type: 'other', packetType: 204, count: 0 });
    expect(serializeRtcp(parts)).toEqual(app);
  });

  it.each([
    ['short datagram', '80c9', 'shorter than an RTCP header'],
    ['bad version', '40c9 0001 aabbccdd', 'version 1'],
    ['length overruns', '80c9 0005 aabbccdd', 'overruns the datagram'],
    ['stray bytes', '80c9 0001 aabbccdd 80', 'stray bytes'],
    ['padding on a packet that is not last', `a0c9 0002 aabbccdd 00000004 ${SDES}`, 'only the last packet'],
    ['report blocks missing', '81c9 0001 aabbccdd', 'RR with 1 report blocks'],
    ['SDES without END', '81ca 0002 00000001 0102 6162', 'no END item'],
    ['SDES item overrun', '81ca 0002 00000001 0109 6162', 'overruns the packet'],
    ['BYE reason overrun', '81cb 0002 00000001 09616263', 'BYE reason of 9 bytes'],
    ['padding count zero', 'a0c9 0001 aabbcc00', 'padding count 0'],
  ])('rejects %s', (_what, wire, message) => {
    expect(() => parseRtcp(hex(wire))).toThrow(RtcpParseError);
    expect(() => parseRtcp(hex(wire))).toThrow(message);
  });

  it('refuses values that do not fit their fields', () => {
    const block = {
      ssrc: 1,
      fractionLost: 0,
      cumulativeLost: 0x800000,
      highestSequence: 0,
      jitter: 0,
      lastSr: 0,
      delaySinceLastSr: 0,
    };
    expect(() => serializeRtcp([{ type: 'rr', ssrc: 1, reports: [block] }])).toThrow(RtcpSerializeError);
    expect(() =>
      serializeRtcp([{ type: 'sdes', chunks: [{ ssrc: 1, items: [{ type: 1, text: 'x'.repeat(256) }] }] }]),
    ).toThrow('exceeds 255');
    expect(() => serializeRtcp([{ type: 'rr', ssrc: -1, reports: [] }])).toThrow('SSRC -1');
  });
});

const u32 = fc.nat({ max: 0xffffffff });
const block = fc.record({
  ssrc: u32,
  fractionLost: fc.nat({ max: 255 }),
  cumulativeLost: fc.integer({ min: -0x800000, max: 0x7fffff }),
  highestSequence: u32,
  jitter: u32,
  lastSr: u32,
  delaySinceLastSr: u32,
});
const words = fc.uint8Array({ maxLength: 12 }).map((a) => a.subarray(0, a.length - (a.length % 4)));
const text = fc.string({ maxLength: 40 });
const packet: fc.Arbitrary<RtcpPacket> = fc.oneof(
  fc.record({
    type: fc.constant('sr' as const),
    ssrc: u32,
    ntpSeconds: u32,
    ntpFraction: u32,
    rtpTimestamp: u32,
    packetCount: u32,
    octetCount: u32,
    reports: fc.array(block, { maxLength: 3 }),
  }),
  fc.record({
    type: fc.constant('rr' as const),
    ssrc: u32,
    reports: fc.array(block, { maxLength: 3 }),
    extension: words.filter((w) => w.length > 0),
  }),
  fc.record({
    type: fc.constant('sdes' as const),
    chunks: fc.array(
      fc.record({
        ssrc: u32,
        items: fc.array(fc.record({ type: fc.integer({ min: 1, max: 8 }), text }), { maxLength: 3 }),
      }),
      { maxLength: 3 },
    ),
  }),
  fc.record({ type: fc.constant('bye' as const), ssrcs: fc.array(u32, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('bye' as const), ssrcs: fc.array(u32, { maxLength: 4 }), reason: text }),
  fc.record({
    type: fc.constant('other' as const),
    packetType: fc.integer({ min: 204, max: 210 }),
    count: fc.nat({ max: 31 }),
    body: words,
  }),
);

describe('RTCP properties', () => {
  it('parseRtcp(serializeRtcp(packets)) gives the packets back', () => {
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 4 }), (packets) => {
        const back = parseRtcp(serializeRtcp(packets));
        expect(back).toEqual(packets.map((p) => ('extension' in p || 'body' in p ? normaliseBytes(p) : p)));
      }),
    );
  });

  it('parseRtcp never throws anything but RtcpParseError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          parseRtcp(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(RtcpParseError);
        }
      }),
    );
  });
});

// Parsed byte fields are views into a Buffer; compare contents.
function normaliseBytes(p: RtcpPacket): RtcpPacket {
  if (p.type === 'rr' || p.type === 'sr')
    return p.extension ? { ...p, extension: Buffer.from(p.extension) } : p;
  if (p.type === 'other') return { ...p, body: Buffer.from(p.body) };
  return p;
}
