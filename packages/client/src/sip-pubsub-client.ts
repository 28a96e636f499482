// The SDK entry point: one SIP user agent towards the broker, and the publishers, subscribers and
// watchers made through it (it owns them: close() ends each, then the socket).
import type { DirectoryInfo } from '@sip-pubsub/events';
import type { ResolvedRecord, SenmlPack } from '@sip-pubsub/senml';
import { createRequest, getHeaders, parseNameAddr, systemClock } from '@sip-pubsub/sip';
import { type ClientOptions, resolveClientOptions } from './client-options.js';
import { DEFAULT_DATA_EXPIRES, dataPackage, isTopicFilter } from './data-package.js';
import { ClientClosedError, SipPubSubError } from './errors.js';
import { EventPublisher, type EventPublisherOptions } from './event-publisher.js';
import { Publisher, type PublisherOptions } from './publisher.js';
import { Subscriber, type SubscriberOptions } from './subscriber.js';
import { UserAgent } from './user-agent.js';
import { DIRECTORY_PACKAGE, Watcher, type WatcherOptions } from './watcher.js';

/** How long close() waits for the final NOTIFY of each watcher before closing the socket. */
const FINAL_NOTIFY_WAIT_MS = 1000;

export class SipPubSubClient {
  private readonly children = new Set<Publisher | Subscriber | Watcher<unknown>>();
  private readonly eventPublishers = new Set<EventPublisher>();
  private closing: Promise<void> | undefined;

  private constructor(private readonly ua: UserAgent) {}

  /** Binds the SIP socket (UDP on localHost:ephemeral, or TCP connecting on first use). */
  static async connect(opts: ClientOptions): Promise<SipPubSubClient> {
    const resolved = resolveClientOptions(opts);
    const ua = await UserAgent.start(resolved, opts.clock ?? systemClock);
    return new SipPubSubClient(ua);
  }

  /** Our SIP address as the broker sees it in Contact. */
  get contact(): string {
    return this.ua.contact.uri;
  }

  get factoryUri(): string {
    return `sip:factory@${this.ua.options.domain}`;
  }

  /**
   * INVITE to the conference factory with the topic in Subject (RFC 4579 §5.4, PROFILE "Creating and
   * joining"): the 302's Contact is the topic's conference URI. The INVITE client transaction ACKs the 302.
   */
  async resolveTopic(topic: string): Promise<string> {
    this.assertOpen();
    const factory = this.factoryUri;
    const invite = createRequest({
      method: 'INVITE',
      uri: factory,
      from: this.ua.from,
      to: { uri: factory, params: {} },
      contact: this.ua.contact,
      headers: [{ name: 'Subject', value: topic }],
    });
    const res = await this.ua.request(invite);
    if (res.status >= 300 && res.status < 400) {
      const contact = getHeaders(res, 'Contact')[0];
      if (contact === undefined)
        throw new SipPubSubError(`topic "${topic}": ${res.status} ${res.reason} without a Contact`, {
          status: res.status,
          reason: res.reason,
        });
      return parseNameAddr(contact).uri;
    }
    if (res.status >= 200 && res.status < 300) {
      // The profile's factory never answers 2xx; if one did, it made a dialog we do not want.
      throw new SipPubSubError(`topic "${topic}": factory answered ${res.status} instead of redirecting`, {
        status: res.status,
        reason: res.reason,
      });
    }
    throw SipPubSubError.fromResponse(res, `topic "${topic}"`);
  }

  async publisher(topic: string, opts: PublisherOptions = {}): Promise<Publisher> {
    const uri = await this.resolveTopic(topic);
    return this.adopt(await Publisher.open(this.ua, uri, opts));
  }

  async subscriber(topic: string, opts: SubscriberOptions = {}): Promise<Subscriber> {
    const uri = await this.resolveTopic(topic);
    return this.adopt(await Subscriber.open(this.ua, uri, opts));
  }

  async watch(topic: string, opts: WatcherOptions = {}): Promise<Watcher> {
    const uri = await this.resolveTopic(topic);
    return this.adopt(await Watcher.open(this.ua, uri, opts));
  }

  /** Joins a conference URI directly (no factory round trip), e.g. one from a directory listing. */
  async publisherAt(conferenceUri: string, opts: PublisherOptions = {}): Promise<Publisher> {
    this.assertOpen();
    return this.adopt(await Publisher.open(this.ua, conferenceUri, opts));
  }

  async subscriberAt(conferenceUri: string, opts: SubscriberOptions = {}): Promise<Subscriber> {
    this.assertOpen();
    return this.adopt(await Subscriber.open(this.ua, conferenceUri, opts));
  }

  async watchAt(conferenceUri: string, opts: WatcherOptions = {}): Promise<Watcher> {
    this.assertOpen();
    return this.adopt(await Watcher.open(this.ua, conferenceUri, opts));
  }

  /** Watches the topic directory (`pubsub-conferences` at the factory URI): every topic with its counts. */
  async directory(opts: WatcherOptions = {}): Promise<Watcher<DirectoryInfo>> {
    this.assertOpen();
    return this.adopt(await Watcher.open(this.ua, this.factoryUri, opts, DIRECTORY_PACKAGE));
  }

  /**
   * Publishes `pack` with PUBLISH (RFC 3903) instead of joining: event state the broker delivers to the
   * topic's subscribers and retains; refreshed on its own, replaced with publish(), removed with close().
   */
  async publishEvent(
    topic: string,
    pack: SenmlPack,
    opts: EventPublisherOptions = {},
  ): Promise<EventPublisher> {
    const uri = await this.resolveTopic(topic);
    this.assertOpen();
    const publisher = await EventPublisher.open(this.ua, uri, pack, opts);
    this.eventPublishers.add(publisher);
    publisher.once('close', () => this.eventPublishers.delete(publisher));
    return publisher;
  }

  /**
   * Reads a topic through the `pubsub-data` event package instead of RTP: the watcher's view is the latest
   * record per name. A filter with `+` or `#` watches every matching topic (at the factory URI), each
   * record's name prefixed with its topic.
   */
  async dataWatch(topicOrFilter: string, opts: WatcherOptions = {}): Promise<Watcher<ResolvedRecord[]>> {
    const expires = opts.expires ?? DEFAULT_DATA_EXPIRES;
    if (isTopicFilter(topicOrFilter)) {
      this.assertOpen();
      return this.adopt(
        await Watcher.open(this.ua, this.factoryUri, { expires }, dataPackage(topicOrFilter)),
      );
    }
    const uri = await this.resolveTopic(topicOrFilter);
    return this.adopt(await Watcher.open(this.ua, uri, { expires }, dataPackage()));
  }

  /** The topic's retained values, by an RFC 6665 fetch (SUBSCRIBE with Expires: 0). */
  async retained(topic: string, timeoutMs = 5_000): Promise<ResolvedRecord[]> {
    const uri = await this.resolveTopic(topic);
    this.assertOpen();
    const watcher = await Watcher.open(this.ua, uri, { expires: 0 }, dataPackage());
    if (watcher.state === undefined) await watcher.waitTerminated(timeoutMs);
    if (watcher.state === undefined)
      throw new SipPubSubError(`fetching ${topic}: no NOTIFY within ${timeoutMs} ms`);
    return watcher.state;
  }

  /** Ends every publisher and subscriber (BYE) and watcher (unsubscribe), then closes the socket. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.eventPublishers].map((p) => p.close()));
      const children = [...this.children];
      const watchers = children.filter((c): c is Watcher<unknown> => c instanceof Watcher);
      await Promise.allSettled(children.map((c) => c.close()));
      // Give the final NOTIFYs a moment so the notifier's last request is answered, not lost.
      await Promise.allSettled(watchers.map((w) => w.waitTerminated(FINAL_NOTIFY_WAIT_MS)));
      this.children.clear();
      await this.ua.close();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new ClientClosedError('SipPubSubClient is closed');
  }

  private async adopt<T extends Publisher | Subscriber | Watcher<unknown>>(child: T): Promise<T> {
    if (this.closing) {
      await child.close();
      throw new ClientClosedError('SipPubSubClient was closed while joining');
    }
    this.children.add(child);
    if (child instanceof Watcher) child.once('terminated', () => this.children.delete(child));
    else child.once('close', () => this.children.delete(child));
    return child;
  }
}
