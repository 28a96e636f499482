// A PUBLISHed pack enters the topic's media stream as a source of its own (PROFILE.md "PUBLISH"): one SSRC
// per publisher identity, plain T.140 packets built by the media package's packetizer, and sequence
// numbers continued from KV so a receiver sees one unbroken stream whichever notifier replica sends.
import { createHash } from 'node:crypto';
import { serializeRtp, T140Sender } from '@sip-pubsub/media';
import { formatPackLine, type SenmlPack } from '@sip-pubsub/senml';

/** Payload type number of PUBLISH sources; relays map it to each subscriber's own (RFC 3550 §7.1). */
export const PUBLISH_T140_PT = 98;

/** The SSRC of a publisher identity: a hash, so every replica gives the same one; never 0. */
export function publisherSsrc(identity: string): number {
  const n = createHash('sha256').update(`publish\n${identity}`).digest().readUInt32BE(0);
  return n === 0 ? 1 : n;
}

/** The leg id other relays key their decoding state of this source by. */
export function publishSourceLegId(ssrc: number): string {
  return `publish-${(ssrc >>> 0).toString(16).padStart(8, '0')}`;
}

/** How many RTP packets the pack takes (RED-free T140blocks of at most 1023 bytes). */
export function packetCount(pack: SenmlPack): number {
  return new T140Sender({ ssrc: 1, t140Pt: PUBLISH_T140_PT, initialSequence: 0 }).send(
    formatPackLine(pack),
    0,
  ).length;
}

/** The pack as one T.140 line in RTP packets numbered from `firstSequence`; the first carries the marker. */
export function packetsOf(pack: SenmlPack, ssrc: number, firstSequence: number, nowMs: number): Uint8Array[] {
  const sender = new T140Sender({ ssrc, t140Pt: PUBLISH_T140_PT, initialSequence: firstSequence });
  return sender.send(formatPackLine(pack), nowMs).map((packet) => serializeRtp(packet));
}
