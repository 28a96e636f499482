import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeConnect,
  encodePublish,
  encodeRemainingLength,
  encodeSubscribe,
  MQTT,
  MqttFrameError,
  MqttFrameReader,
  PINGREQ,
  parsePublish,
} from './mqtt.js';
import { encodePub, type NatsEvent, NatsFrameError, NatsFrameReader } from './nats.js';
import { primaryBlockStart, readStamp, stampedPack } from './stamp.js';

/** Cuts `whole` at the given points (taken modulo its length), in order. */
function split(whole: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (whole.length === 0 ? 0 : c % whole.length)))].sort(
    (a, b) => a - b,
  );
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(whole.subarray(from, p));
    from = p;
  }
  out.push(whole.subarray(from));
  return out;
}

const topicArb = fc.string({ minLength: 1, maxLength: 40 }).filter((t) => !t.includes('\u0000'));
const payloadArb = fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a));

describe('MQTT 3.1.1 frame reader', () => {
  it('gives back every PUBLISH topic and payload whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(topicArb, payloadArb), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map(([t, p]) => encodePublish(t, p)));
          const got: [string, Buffer][] = [];
          const reader = new MqttFrameReader((header, buf, start, end) => {
            const p = parsePublish(header, buf, start, end);
            expect(p.qos).toBe(0);
            got.push([p.topic, Buffer.from(buf.subarray(p.payloadStart, end))]);
          });
          for (const chunk of split(stream, cuts)) reader.push(chunk);
          expect(got).toEqual(messages);
        },
      ),
    );
  });

  it('frames mixed control packets by type with their body lengths', () => {
    const packets = fc.oneof(
      fc.string({ maxLength: 23 }).map((id) => encodeConnect(id)),
      fc.tuple(fc.integer({ min: 1, max: 0xffff }), topicArb).map(([id, f]) => encodeSubscribe(id, f)),
      fc.constant(PINGREQ),
      fc.tuple(topicArb, payloadArb).map(([t, p]) => encodePublish(t, p)),
    );
    fc.assert(
      fc.property(
        fc.array(packets, { maxLength: 15 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (list, cuts) => {
          const seen: number[] = [];
          const reader = new MqttFrameReader((header, _buf, start, end) => {
            seen.push(header >> 4, end - start);
          });
          for (const chunk of split(Buffer.concat(list), cuts)) reader.push(chunk);
          const expected = list.flatMap((p) => {
            const lengthBytes = encodeRemainingLength(p.length - 1).length;
            return [p[0] >> 4, p.length - 1 - lengthBytes];
          });
          expect(seen).toEqual(expected);
          expect(
            seen.filter((_, i) => i % 2 === 0).every((t) => t >= MQTT.CONNECT && t <= MQTT.PINGRESP),
          ).toBe(true);
        },
      ),
    );
  });

  it('round-trips the remaining length over its whole range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 268_435_455 }), (n) => {
        const bytes = encodeRemainingLength(n);
        let value = 0;
        for (let i = bytes.length - 1; i >= 0; i--) value = value * 128 + (bytes[i] & 0x7f);
        expect(value).toBe(n);
        expect(bytes.length).toBeLessThanOrEqual(4);
      }),
    );
  });

  it('refuses a remaining length of five bytes and a topic running past the packet', () => {
    expect(() =>
      new MqttFrameReader(() => undefined).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])),
    ).toThrow(MqttFrameError);
    const body = Buffer.from([0x00, 0x09, 0x61]);
    expect(() => parsePublish(0x30, body, 0, body.length)).toThrow(/past the packet/);
    expect(() => parsePublish(0x36, body, 0, body.length)).toThrow(/QoS 3/);
  });
});

const subjectArb = fc.stringMatching(/^[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,3}$/);

describe('NATS protocol reader', () => {
  it('gives back every MSG subject, sid, reply and payload amid PING/+OK/INFO whatever the chunking', () => {
    const item = fc.oneof(
      fc.record({
        kind: fc.constant('msg' as const),
        subject: subjectArb,
        sid: fc.nat({ max: 1_000_000 }),
        reply: fc.option(subjectArb, { nil: undefined }),
        payload: payloadArb,
      }),
      fc.constantFrom({ kind: 'PING' as const }, { kind: '+OK' as const }, { kind: 'PONG' as const }),
      fc.record({
        kind: fc.constant('INFO' as const),
        json: fc.constant('{"server_id":"x","max_payload":1048576}'),
      }),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (items, cuts) => {
        const wire = Buffer.concat(
          items.map((i) => {
            if (i.kind === 'msg') {
              const head = `MSG ${i.subject} ${i.sid}${i.reply ? ` ${i.reply}` : ''} ${i.payload.length}\r\n`;
              return Buffer.concat([Buffer.from(head), i.payload, Buffer.from('\r\n')]);
            }
            if (i.kind === 'INFO') return Buffer.from(`INFO ${i.json}\r\n`);
            return Buffer.from(`${i.kind}\r\n`);
          }),
        );
        const got: unknown[] = [];
        const reader = new NatsFrameReader((e: NatsEvent) => {
          if (e.op === 'MSG')
            got.push({
              kind: 'msg',
              subject: e.subject,
              sid: e.sid,
              reply: e.replyTo,
              payload: Buffer.from(e.buf.subarray(e.start, e.end)),
            });
          else if (e.op === 'INFO') got.push({ kind: 'INFO', json: e.text });
          else if (e.op !== '-ERR') got.push({ kind: e.op });
        });
        for (const chunk of split(wire, cuts)) reader.push(chunk);
        expect(got).toEqual(items);
      }),
    );
  });

  it('PUB frames carry the payload length the payload has', () => {
    fc.assert(
      fc.property(subjectArb, payloadArb, (subject, payload) => {
        const frame = encodePub(subject, payload);
        const head = frame.toString('latin1', 0, frame.indexOf('\r\n'));
        expect(head).toBe(`PUB ${subject} ${payload.length}`);
        expect(frame.subarray(frame.length - 2 - payload.length, frame.length - 2)).toEqual(payload);
      }),
    );
  });

  it('refuses a MSG whose payload is not followed by CRLF, a bad MSG line and an unknown operation', () => {
    const push = (s: string) => new NatsFrameReader(() => undefined).push(Buffer.from(s));
    expect(() => push('MSG a 1 3\r\nabcXY')).toThrow(NatsFrameError);
    expect(() => push('MSG a\r\n')).toThrow(/bad MSG line/);
    expect(() => push('HELLO\r\n')).toThrow(/unknown operation/);
  });
});

describe('stamped packs', () => {
  it('read back the stamp they were written with, wherever they sit in a buffer', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000 }),
        fc.nat({ max: 10_000 }),
        fc.nat(),
        fc.maxSafeNat().map((n) => Math.floor(n / 1_000)),
        fc.uint8Array({ maxLength: 30 }),
        (step, pub, seq, sentUs, prefix) => {
          const pack = Buffer.from(stampedPack(step, pub, seq, sentUs));
          const buf = Buffer.concat([Buffer.from(prefix).filter((b) => b !== 0x22), pack]);
          expect(readStamp(buf, 0, buf.length)).toEqual({ step, pub, seq, sentUs });
        },
      ),
    );
  });

  it('find nothing in a pack that is cut short or not stamped', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (seq, cut) => {
        const pack = Buffer.from(stampedPack(1, 2, seq, 123_456));
        const end = cut % (pack.indexOf('","u"') + 1);
        expect(readStamp(pack, 0, end)).toBeUndefined();
      }),
    );
    const plain = Buffer.from('[{"n":"temp","v":1}]');
    expect(readStamp(plain, 0, plain.length)).toBeUndefined();
  });

  it('locate the primary T.140 block past any number of RED generations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }),
        fc.uint8Array({ minLength: 1, maxLength: 60 }),
        fc.nat({ max: 15 }),
        (generations, primary, csrcs) => {
          const header = Buffer.alloc(12 + csrcs * 4);
          header[0] = 0x80 | csrcs;
          header[1] = 100;
          const blocks = generations.map((g) =>
            Buffer.from([0x80 | 98, 0, (g.length >> 8) & 3, g.length & 0xff]),
          );
          const packet = Buffer.concat([header, ...blocks, Buffer.from([98]), ...generations, primary]);
          const at = primaryBlockStart(packet, 100);
          expect(packet.subarray(at)).toEqual(Buffer.from(primary));
          expect(primaryBlockStart(packet.subarray(0, 11), 100)).toBe(-1);
        },
      ),
    );
  });
});
