// The least of MQTT 3.1.1 (OASIS standard, §2 fixed header, §3.1 CONNECT, §3.3 PUBLISH, §3.8 SUBSCRIBE)
// a benchmark client needs over a raw TCP socket: encoders for CONNECT, SUBSCRIBE, PUBLISH at QoS 0 and
// PINGREQ, and a streaming reader that cuts the byte stream into control packets without copying them.
// Only what a load generator uses; not a client library.

export const MQTT = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  SUBACK: 9,
  PINGREQ: 12,
  PINGRESP: 13,
} as const;

/** The remaining-length field (§2.2.3): 7 bits per byte, low group first, at most 4 bytes. */
export function encodeRemainingLength(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 268_435_455) throw new RangeError(`remaining length ${n}`);
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

function utf8String(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > 0xffff) throw new RangeError('MQTT string longer than 65535 bytes');
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function packet(typeAndFlags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([typeAndFlags]), encodeRemainingLength(body.length), body]);
}

/** CONNECT with a clean session and no will, user or password. */
export function encodeConnect(clientId: string, keepAliveS = 60): Buffer {
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, keepAliveS >> 8, keepAliveS & 0xff]);
  return packet(MQTT.CONNECT << 4, Buffer.concat([variable, utf8String(clientId)]));
}

/** SUBSCRIBE to one topic filter at QoS 0 (the fixed header's flags are 0010, §3.8.1). */
export function encodeSubscribe(packetId: number, filter: string): Buffer {
  const id = Buffer.from([packetId >> 8, packetId & 0xff]);
  return packet((8 << 4) | 0x02, Buffer.concat([id, utf8String(filter), Buffer.from([0])]));
}

/** PUBLISH at QoS 0: no packet identifier (§3.3.2.2). */
export function encodePublish(topic: string, payload: Buffer): Buffer {
  return packet(MQTT.PUBLISH << 4, Buffer.concat([utf8String(topic), payload]));
}

export const PINGREQ = Buffer.from([MQTT.PINGREQ << 4, 0]);

export class MqttFrameError extends Error {}

/**
 * Receives the bytes of one connection in arbitrary chunks and calls `onPacket` once per control packet
 * with its first byte (type << 4 | flags) and the buffer and bounds of its body (valid only during the
 * call). A packet inside one chunk is not copied; one split across chunks is joined once.
 */
export class MqttFrameReader {
  private pending: Buffer | undefined;

  constructor(private readonly onPacket: (header: number, buf: Buffer, start: number, end: number) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let offset = 0;
    while (offset < buf.length) {
      let length = 0;
      let multiplier = 1;
      let i = offset + 1;
      let complete = false;
      for (let n = 0; n < 4; n++, i++) {
        if (i >= buf.length) break;
        const byte = buf[i];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
        if (n === 3) throw new MqttFrameError('remaining length longer than 4 bytes');
      }
      if (!complete || i + length > buf.length) break;
      this.onPacket(buf[offset], buf, i, i + length);
      offset = i + length;
    }
    if (offset < buf.length) this.pending = Buffer.from(buf.subarray(offset));
  }
}

export interface MqttPublish {
  topic: string;
  qos: number;
  packetId?: number;
  /** Offsets of the payload in the buffer given to the packet callback. */
  payloadStart: number;
}

/** The variable header of a PUBLISH body (§3.3.2); the payload runs from payloadStart to the body's end. */
export function parsePublish(header: number, buf: Buffer, start: number, end: number): MqttPublish {
  if (header >> 4 !== MQTT.PUBLISH) throw new MqttFrameError(`not a PUBLISH: type ${header >> 4}`);
  const qos = (header >> 1) & 0x03;
  if (qos === 3) throw new MqttFrameError('PUBLISH with QoS 3');
  if (end - start < 2) throw new MqttFrameError('PUBLISH without a topic length');
  const topicLength = buf.readUInt16BE(start);
  let offset = start + 2 + topicLength;
  if (offset > end) throw new MqttFrameError('PUBLISH topic runs past the packet');
  const topic = buf.toString('utf8', start + 2, offset);
  let packetId: number | undefined;
  if (qos > 0) {
    if (offset + 2 > end) throw new MqttFrameError('PUBLISH without its packet identifier');
    packetId = buf.readUInt16BE(offset);
    offset += 2;
  }
  return { topic, qos, packetId, payloadStart: offset };
}
