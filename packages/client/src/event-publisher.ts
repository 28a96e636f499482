// Publishing without RTP: PUBLISH (RFC 3903) of SenML event state to a topic's conference URI. The entity
// tag of each 2xx is kept for the next request; the state is refreshed on its own before it expires,
// replaced by publish(), and removed by close() (Expires: 0) unless the caller keeps it with detach().
import { EventEmitter } from 'node:events';
import { encodeSenmlCbor, formatPackLine, type SenmlPack } from '@sip-pubsub/senml';
import { createRequest, generateCallId, getHeader, type SipResponse } from '@sip-pubsub/sip';
import { DATA_EVENT, DEFAULT_DATA_EXPIRES, SENML_JSON } from './data-package.js';
import { ClientClosedError, SipPubSubError } from './errors.js';
import type { UserAgent } from './user-agent.js';
import { refreshDelayMs } from './watcher.js';

export interface EventPublisherOptions {
  /** Requested lifetime of the event state in seconds (default 600; the broker's minimum is 30). */
  expires?: number;
  /** Send application/senml+cbor instead of JSON. */
  cbor?: boolean;
}

export interface EventPublisherEvents {
  /** A refresh failed: the state is gone (412) or the broker is unreachable. */
  error: [err: Error];
  close: [];
}

export class EventPublisher extends EventEmitter<EventPublisherEvents> {
  private etag: string | undefined;
  private granted = 0;
  private readonly callId = generateCallId();
  private cseq = 0;
  private timer: unknown;
  private closed = false;
  /** Requests go out one at a time: each needs the tag the previous one got. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly ua: UserAgent,
    readonly conferenceUri: string,
    private readonly opts: EventPublisherOptions,
  ) {
    super();
  }

  /** Publishes the initial state (RFC 3903 §4.1). */
  static async open(
    ua: UserAgent,
    conferenceUri: string,
    pack: SenmlPack,
    opts: EventPublisherOptions = {},
  ): Promise<EventPublisher> {
    const publisher = new EventPublisher(ua, conferenceUri, opts);
    await publisher.publish(pack);
    return publisher;
  }

  /** The entity tag of the state now in force. */
  get entityTag(): string | undefined {
    return this.etag;
  }

  /** Seconds the broker granted in its last 2xx. */
  get expires(): number {
    return this.granted;
  }

  /** Initial publication or modification (SIP-If-Match with a body). */
  publish(pack: SenmlPack): Promise<void> {
    return this.serial(async () => {
      const body = this.opts.cbor
        ? encodeSenmlCbor(pack)
        : Buffer.from(formatPackLine(pack).slice(0, -1), 'utf8');
      const res = await this.send(this.opts.expires ?? DEFAULT_DATA_EXPIRES, body);
      this.accept(res, 'PUBLISH');
    });
  }

  /** Refresh (SIP-If-Match, no body); done on its own before expiry. */
  refresh(): Promise<void> {
    return this.serial(async () => {
      if (this.etag === undefined) return;
      const res = await this.send(this.opts.expires ?? DEFAULT_DATA_EXPIRES);
      this.accept(res, 'refresh');
    });
  }

  /** Removes the state (Expires: 0) and stops refreshing. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.stopTimer();
    return this.serial(async () => {
      if (this.etag === undefined) return;
      const res = await this.send(0);
      this.etag = undefined;
      this.emit('close');
      if (res.status >= 300 && res.status !== 412)
        throw SipPubSubError.fromResponse(res, 'removing the publication');
    });
  }

  /** Stops refreshing and leaves the state to expire on the broker (its values stay retained until then). */
  detach(): void {
    this.closed = true;
    this.stopTimer();
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private send(expires: number, body?: Buffer): Promise<SipResponse> {
    if (this.closed && expires !== 0) throw new ClientClosedError('publication is closed');
    const req = createRequest({
      method: 'PUBLISH',
      uri: this.conferenceUri,
      from: this.ua.from,
      to: { uri: this.conferenceUri, params: {} },
      callId: this.callId,
      cseq: ++this.cseq,
      headers: [
        { name: 'Event', value: DATA_EVENT },
        { name: 'Expires', value: String(expires) },
        ...(this.etag !== undefined ? [{ name: 'SIP-If-Match', value: this.etag }] : []),
      ],
      ...(body !== undefined
        ? { body, contentType: this.opts.cbor ? 'application/senml+cbor' : SENML_JSON }
        : {}),
    });
    return this.ua.request(req);
  }

  private accept(res: SipResponse, what: string): void {
    if (res.status < 200 || res.status >= 300) {
      if (res.status === 412) this.etag = undefined;
      throw SipPubSubError.fromResponse(res, `${what} to ${this.conferenceUri}`);
    }
    const etag = getHeader(res, 'SIP-ETag');
    if (etag === undefined) throw new SipPubSubError(`${what}: 2xx without SIP-ETag`, { status: res.status });
    this.etag = etag.trim();
    const granted = Number(getHeader(res, 'Expires'));
    this.granted =
      Number.isInteger(granted) && granted > 0 ? granted : (this.opts.expires ?? DEFAULT_DATA_EXPIRES);
    this.schedule();
  }

  private schedule(): void {
    this.stopTimer();
    if (this.closed) return;
    this.timer = this.ua.clock.setTimeout(() => {
      this.timer = undefined;
      this.refresh().catch((err: Error) => this.emit('error', err));
    }, refreshDelayMs(this.granted));
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.ua.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
