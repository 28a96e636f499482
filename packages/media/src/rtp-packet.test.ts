import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRtp, type RtpPacket, RtpParseError, RtpSerializeError, serializeRtp } from './rtp-packet.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('parseRtp / serializeRtp wire vectors (RFC 3550 §5.1)', () => {
  it('minimal packet with marker bit', () => {
    const wire = hex('80e2 1234 deadbeef 11223344 6869');
    const p = parseRtp(wire);
    expect(p).toMatchObject({
      version: 2,
      padding: false,
      extension: null,
      marker: true,
      payloadType: 98,
      sequenceNumber: 0x1234,
      timestamp: 0xdeadbeef,
      ssrc: 0x11223344,
      csrcs: [],
    });
    expect(Buffer.from(p.payload).toString()).toBe('hi');
    expect(serializeRtp(p)).toEqual(wire);
  });

  it('CSRCs, header extension and padding', () => {
    const wire = hex(`b2 64 ffff 00000001 cafebabe
      01020304 0a0b0c0d
      bede 0001 10aa0000
      78
      000003`);
    const p = parseRtp(wire);
    expect(p.padding).toBe(true);
    expect(p.paddingSize).toBe(3);
    expect(p.marker).toBe(false);
    expect(p.payloadType).toBe(100);
    expect(p.sequenceNumber).toBe(0xffff);
    expect(p.timestamp).toBe(1);
    expect(p.ssrc).toBe(0xcafebabe);
    expect(p.csrcs).toEqual([0x01020304, 0x0a0b0c0d]);
    expect(p.extension?.profile).toBe(0xbede);
    expect([...(p.extension?.data ?? [])]).toEqual([0x10, 0xaa, 0, 0]);
    expect([...p.payload]).toEqual([0x78]);
    expect(serializeRtp(p)).toEqual(wire);
  });

  it('returns views into the input instead of copies', () => {
    const wire = hex('80620001000000020000000361626364');
    const p = parseRtp(wire);
    expect(p.payload.buffer).toBe(wire.buffer);
    expect(p.payload.byteOffset).toBe(wire.byteOffset + 12);
  });

  it('pads to a word boundary when no padding size is given', () => {
    const out = serializeRtp({
      version: 2,
      padding: true,
      extension: null,
      marker: false,
      payloadType: 0,
      sequenceNumber: 0,
      timestamp: 0,
      ssrc: 0,
      csrcs: [],
      payload: new Uint8Array([1]),
    });
    expect(out).toEqual(hex('a0000000 00000000 00000000 01 000003'));
  });

  it.each([
    ['shorter than the header', '80620001000000020000'],
    ['version 1', '40620001000000020000000300'],
    ['CSRC count beyond the end', '83620001000000020000000300000001'],
    ['truncated extension header', '90620001000000020000000300'],
    ['extension longer than the packet', '906200010000000200000003bede0002aaaaaaaa'],
    ['padding count 0', 'a06200010000000200000003616200'],
    ['padding count larger than the payload', 'a06200010000000200000003616205'],
  ])('rejects %s', (_what, bytes) => {
    expect(() => parseRtp(hex(bytes))).toThrow(RtpParseError);
  });

  it('refuses to serialize fields that do not fit', () => {
    const base: RtpPacket = parseRtp(hex('80e2 1234 deadbeef 11223344 6869'));
    expect(() => serializeRtp({ ...base, payloadType: 128 })).toThrow(RtpSerializeError);
    expect(() => serializeRtp({ ...base, csrcs: new Array(16).fill(1) })).toThrow(RtpSerializeError);
    expect(() => serializeRtp({ ...base, extension: { profile: 1, data: new Uint8Array(3) } })).toThrow(
      RtpSerializeError,
    );
  });
});

const packetArb: fc.Arbitrary<RtpPacket> = fc
  .record({
    padding: fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }),
    extension: fc.option(
      fc.record({
        profile: fc.integer({ min: 0, max: 0xffff }),
        data: fc
          .integer({ min: 0, max: 8 })
          .chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 })),
      }),
      { nil: null },
    ),
    marker: fc.boolean(),
    payloadType: fc.integer({ min: 0, max: 127 }),
    sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
    timestamp: fc.nat({ max: 0xffffffff }),
    ssrc: fc.nat({ max: 0xffffffff }),
    csrcs: fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 15 }),
    payload: fc.uint8Array({ maxLength: 64 }),
  })
  .map(({ padding, ...rest }) => {
    const p: RtpPacket = { version: 2, padding: padding !== undefined, ...rest };
    if (padding !== undefined) p.paddingSize = padding;
    return p;
  });

const plain = (p: RtpPacket) => ({
  ...p,
  payload: [...p.payload],
  extension: p.extension && { profile: p.extension.profile, data: [...p.extension.data] },
});

describe('RTP properties', () => {
  it('parse ∘ serialize is the identity on packets', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const wire = serializeRtp(p);
        const back = parseRtp(wire);
        expect(plain(back)).toEqual(plain(p));
        expect(serializeRtp(back)).toEqual(wire);
      }),
    );
  });

  it('parsing arbitrary bytes throws only RtpParseError, and what parses serializes back exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, forceV2) => {
        if (forceV2 && bytes.length > 0) bytes[0] = (bytes[0] & 0x3f) | 0x80;
        let p: RtpPacket;
        try {
          p = parseRtp(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(RtpParseError);
          return;
        }
        const out = serializeRtp(p);
        if (!p.padding) expect([...out]).toEqual([...bytes]);
        else {
          expect(out.length).toBe(bytes.length);
          expect(out[out.length - 1]).toBe(bytes[bytes.length - 1]);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
