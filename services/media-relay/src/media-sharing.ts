// Whether a publication received here goes on the conference's bus subject (DESIGN.md "Media sharding"):
// only while another process reads that stream. Two kinds read it: another relay hosting a leg of the
// conference (it says so on `pubsub.media-hosts.<conf>` when it opens the conference, asking, and each
// relay already hosting it answers), and a reader of every conference's stream (a notifier that retains
// RTP values or has pubsub-data watchers) that repeats itself on `pubsub.media-readers` and expires
// after three missed periods. Engine only: the service feeds it bus messages and membership.
import type { MediaHost, MediaReader } from '@sip-pubsub/proto';

export interface MediaSharingOptions {
  /** This relay's id: its own messages, echoed by an in-process bus, are not another reader. */
  self: string;
  /** How long a reader's announcement holds (three of its periods). */
  readerTtlMs: number;
  now?: () => number;
}

export class MediaSharing {
  /** Conference id → the other relays hosting it, for the conferences hosted here. */
  private readonly peers = new Map<string, Set<string>>();
  /** Reader id → when its last announcement lapses. */
  private readonly readers = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: MediaSharingOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether a publication of the conference has a reader other than this relay. Per packet: no allocation. */
  wanted(conferenceId: string): boolean {
    const peers = this.peers.get(conferenceId);
    if (peers !== undefined && peers.size > 0) return true;
    if (this.readers.size === 0) return false;
    const now = this.now();
    for (const [id, until] of this.readers) {
      if (until > now) return true;
      this.readers.delete(id);
    }
    return false;
  }

  /** The conference opened here: the message this relay says on its hosts subject (it asks). */
  opened(conferenceId: string): MediaHost {
    if (!this.peers.has(conferenceId)) this.peers.set(conferenceId, new Set());
    return { relayId: this.opts.self, hosting: true, ask: true };
  }

  /** The conference closed here: forget its peers; the message this relay says on its hosts subject. */
  closed(conferenceId: string): MediaHost {
    this.peers.delete(conferenceId);
    return { relayId: this.opts.self, hosting: false };
  }

  /** A message on a hosted conference's hosts subject; returns the answer to say, if any. */
  onHost(conferenceId: string, msg: MediaHost): MediaHost | undefined {
    if (msg.relayId === this.opts.self) return undefined;
    const peers = this.peers.get(conferenceId);
    if (!peers) return undefined;
    if (!msg.hosting) {
      peers.delete(msg.relayId);
      return undefined;
    }
    peers.add(msg.relayId);
    return msg.ask ? { relayId: this.opts.self, hosting: true } : undefined;
  }

  /** A message on the readers subject (asks carry no reading state). */
  onReader(msg: MediaReader): void {
    if (msg.ask || msg.readerId === this.opts.self) return;
    if (msg.reading) this.readers.set(msg.readerId, this.now() + this.opts.readerTtlMs);
    else this.readers.delete(msg.readerId);
  }

  /** Relays that left membership no longer read anything: they are dropped from every conference. */
  forgetRelays(departed: readonly string[]): void {
    for (const peers of this.peers.values()) for (const id of departed) peers.delete(id);
  }

  /** The other relays hosting a conference hosted here (for tests and stats). */
  peersOf(conferenceId: string): string[] {
    return [...(this.peers.get(conferenceId) ?? [])];
  }
}
