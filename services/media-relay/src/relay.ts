// The relay core: legs grouped by conference, publications in, deliveries out (translate mode: the
// publisher's packet is forwarded as received, SSRC, sequence and timestamp intact). Sockets are the
// adapter's: a leg gets a `send` function, the core never opens one.
import { LineAssembler, T140Receiver, classifyDatagram, parseRtp } from '@sip-pubsub/media';
import { SenmlError, parseSenmlJson } from '@sip-pubsub/senml';

export interface LegOptions {
  conferenceId: string;
  legId: string;
  publishes: boolean;
  subscribes: boolean;
  remoteHost: string;
  remotePort: number;
  t140Pt: number;
  /** 0 when RED was not negotiated. */
  redPt: number;
  invalidData: 'drop' | 'forward';
}

export type DatagramSender = (data: Uint8Array, host: string, port: number) => void;

export interface RelayCounters {
  publicationsIn(conferenceId: string): void;
  deliveriesOut(conferenceId: string, bytes: number): void;
  invalid(conferenceId: string): void;
  dropped(reason: 'keepalive' | 'rtcp' | 'foreign-source' | 'not-publisher' | 'malformed' | 'unknown-pt'): void;
  lost(conferenceId: string, lost: number, recovered: number): void;
}

export class Leg {
  readonly receiver: T140Receiver;
  readonly lines = new LineAssembler();
  /** Where we send: the negotiated address, or the latched source for a leg behind NAT. */
  target: { host: string; port: number };
  latched = false;

  constructor(
    public options: LegOptions,
    readonly localPort: number,
    readonly send: DatagramSender,
  ) {
    this.target = { host: options.remoteHost, port: options.remotePort };
    this.receiver = new T140Receiver({ t140Pt: options.t140Pt, redPt: options.redPt || undefined });
  }
}

export interface RelayCoreOptions {
  latching: boolean;
  maxPackBytes: number;
  counters: RelayCounters;
  /** Called once per publication packet received here, to share it with the other relays. */
  share(conferenceId: string, legId: string, packet: Uint8Array): void;
  now?: () => number;
}

export class RelayCore {
  private readonly conferences = new Map<string, Map<string, Leg>>();
  private readonly legs = new Map<string, Leg>();

  constructor(private readonly opts: RelayCoreOptions) {}

  addLeg(leg: Leg): void {
    let conference = this.conferences.get(leg.options.conferenceId);
    if (!conference) {
      conference = new Map();
      this.conferences.set(leg.options.conferenceId, conference);
    }
    conference.set(leg.options.legId, leg);
    this.legs.set(leg.options.legId, leg);
  }

  getLeg(legId: string): Leg | undefined {
    return this.legs.get(legId);
  }

  /** Removes a leg; returns true when its conference has no more legs here. */
  removeLeg(legId: string): { removed: boolean; conferenceEmpty: boolean } {
    const leg = this.legs.get(legId);
    if (!leg) return { removed: false, conferenceEmpty: false };
    this.legs.delete(legId);
    const conference = this.conferences.get(leg.options.conferenceId)!;
    conference.delete(legId);
    if (conference.size === 0) this.conferences.delete(leg.options.conferenceId);
    return { removed: true, conferenceEmpty: conference.size === 0 };
  }

  hasConference(conferenceId: string): boolean {
    return this.conferences.has(conferenceId);
  }

  get legCount(): number {
    return this.legs.size;
  }

  conferenceLegs(): Map<string, Leg[]> {
    const out = new Map<string, Leg[]>();
    for (const [id, legs] of this.conferences) out.set(id, [...legs.values()]);
    return out;
  }

  /** A datagram arrived on a leg's socket. */
  onDatagram(leg: Leg, data: Uint8Array, fromHost: string, fromPort: number): void {
    const { counters } = this.opts;
    const kind = classifyDatagram(data);
    if (kind === 'keepalive') return counters.dropped('keepalive');
    if (kind === 'rtcp') return counters.dropped('rtcp');
    if (!this.acceptSource(leg, fromHost, fromPort)) return counters.dropped('foreign-source');
    if (!leg.options.publishes) return counters.dropped('not-publisher');

    let packet: ReturnType<typeof parseRtp>;
    try {
      packet = parseRtp(data);
    } catch {
      return counters.dropped('malformed');
    }
    const pt = packet.payloadType;
    if (pt !== leg.options.t140Pt && pt !== leg.options.redPt) return counters.dropped('unknown-pt');
    // Inspect the text for loss accounting and SenML validation; the packet itself is forwarded untouched.
    const delivery = leg.receiver.receive(packet);
    if (delivery.lost > 0 || delivery.recovered > 0) counters.lost(leg.options.conferenceId, delivery.lost, delivery.recovered);
    if (delivery.text.length > 0) {
      const { lines, damaged } = leg.lines.push(delivery.text);
      if (damaged > 0) for (let i = 0; i < damaged; i++) counters.invalid(leg.options.conferenceId);
      for (const line of lines) {
        counters.publicationsIn(leg.options.conferenceId);
        if (!this.isValidSenml(line)) counters.invalid(leg.options.conferenceId);
      }
    }
    // A packet with no text at all (empty primary and empty redundancy) only keeps the path open. Packets
    // with an empty primary but redundancy still carry the last text for receivers that lost it: forwarded.
    if (packet.payload.length === 0 || (pt === leg.options.redPt && carriesNoText(packet.payload))) {
      return counters.dropped('keepalive');
    }
    this.deliver(leg.options.conferenceId, leg.options.legId, data);
    this.opts.share(leg.options.conferenceId, leg.options.legId, data);
  }

  /** A packet another relay received from one of its publishers. */
  onShared(conferenceId: string, sourceLegId: string, data: Uint8Array): void {
    this.deliver(conferenceId, sourceLegId, data);
  }

  private deliver(conferenceId: string, sourceLegId: string, data: Uint8Array): void {
    const conference = this.conferences.get(conferenceId);
    if (!conference) return;
    for (const target of conference.values()) {
      if (!target.options.subscribes || target.options.legId === sourceLegId) continue;
      target.send(data, target.target.host, target.target.port);
      this.opts.counters.deliveriesOut(conferenceId, data.length);
    }
  }

  private acceptSource(leg: Leg, host: string, port: number): boolean {
    if (this.opts.latching) {
      if (!leg.latched) {
        leg.target = { host, port };
        leg.latched = true;
        return true;
      }
      return leg.target.host === host && leg.target.port === port;
    }
    // Without latching, only the negotiated host may send; its source port may differ from its RTP port.
    return normaliseHost(host) === normaliseHost(leg.options.remoteHost);
  }

  private isValidSenml(line: string): boolean {
    try {
      parseSenmlJson(line, { maxPackBytes: this.opts.maxPackBytes });
      return true;
    } catch (err) {
      if (err instanceof SenmlError) return false;
      throw err;
    }
  }

}

/** RED payload (RFC 2198 §3) whose blocks are all empty. */
function carriesNoText(payload: Uint8Array): boolean {
  let offset = 0;
  while (offset < payload.length && (payload[offset] & 0x80) !== 0) {
    if (offset + 4 > payload.length) return false;
    if (((payload[offset + 2] & 0x03) << 8) + payload[offset + 3] !== 0) return false;
    offset += 4;
  }
  return offset + 1 === payload.length;
}

function normaliseHost(host: string): string {
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}
