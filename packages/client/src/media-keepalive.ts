// Media keep-alives (RFC 6263) from a participant's RTP socket: the relay sends a leg nothing until a
// datagram from the leg's negotiated address gives consent, and closes legs it hears nothing from
// (README "Media consent"). A subscriber never sends media, and a publisher may be quiet for long, so
// both send one at join, after every retarget, and every few seconds.
import { randomBytes } from 'node:crypto';
import { serializeRtp } from '@sip-pubsub/media';
import type { Clock } from '@sip-pubsub/sip';

/** RFC 3551 §6 leaves 20 unassigned; we never negotiate it, so receivers drop it (RFC 6263 §4.6). */
export const KEEPALIVE_PAYLOAD_TYPE = 20;
/** Well inside the relay's default 30 s consent timeout, so one or two lost datagrams do no harm. */
export const KEEPALIVE_INTERVAL_MS = 5_000;

/**
 * An RTP header with no payload: of a payload type nobody negotiated (RFC 6263 §4.6), or, for a subscriber,
 * its negotiated T.140 type (an empty T140block carries no text), which lets a relay that latches on the
 * leg's payload types find a subscriber behind NAT (README "Symmetric RTP").
 */
export function keepAlivePacket(
  ssrc: number,
  sequenceNumber: number,
  timestamp: number,
  payloadType = KEEPALIVE_PAYLOAD_TYPE,
): Uint8Array {
  return serializeRtp({
    version: 2,
    padding: false,
    extension: null,
    marker: false,
    payloadType,
    sequenceNumber: sequenceNumber & 0xffff,
    timestamp: timestamp >>> 0,
    ssrc: ssrc >>> 0,
    csrcs: [],
    payload: new Uint8Array(0),
  });
}

export class MediaKeepAlive {
  private timer: unknown;
  private stopped = false;
  private seq = randomBytes(2).readUInt16BE(0);
  // Its own SSRC: the keep-alives are not part of any media stream, so they take no sequence numbers from one.
  private readonly ssrc = randomBytes(4).readUInt32BE(0);

  constructor(
    private readonly clock: Clock,
    private readonly send: (data: Uint8Array, host: string, port: number) => Promise<void>,
    private readonly target: () => { address: string; port: number; payloadType?: number },
    private readonly intervalMs = KEEPALIVE_INTERVAL_MS,
  ) {}

  /** Sends one now and schedules the next; call again after a retarget to give consent at once. */
  kick(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const { address, port, payloadType } = this.target();
    if (address !== '' && port > 0) {
      const packet = keepAlivePacket(this.ssrc, this.seq++, this.clock.now(), payloadType);
      // Best effort: the next one follows within the interval.
      this.send(packet, address, port).catch(() => {});
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
