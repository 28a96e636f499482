// A watcher: an event subscription (RFC 6665) that keeps a view from full and partial NOTIFYs —
// the roster of a topic's conference (`conference`, RFC 4575) or the topic directory at the factory URI
// (`pubsub-conferences`). Refreshes before expiry, unsubscribes with Expires: 0.
import { EventEmitter } from 'node:events';
import {
  applyConferenceInfo,
  applyDirectoryInfo,
  CONFERENCE_INFO_CONTENT_TYPE,
  type ConferenceInfo,
  DIRECTORY_CONTENT_TYPE,
  type DirectoryInfo,
  EventDocumentError,
  parseConferenceInfo,
  parseDirectoryInfo,
  VersionGapError,
} from '@sip-pubsub/events';
import {
  createInDialogRequest,
  createRequest,
  createResponse,
  type DialogState,
  dialogFromUacResponse,
  generateCallId,
  generateTag,
  getHeader,
  getHeaders,
  type HeaderField,
  parseCSeq,
  parseEvent,
  parseNameAddr,
  parseSubscriptionState,
  type ServerTransaction,
  type SipRequest,
  type SipResponse,
} from '@sip-pubsub/sip';
import { ClientClosedError, SipPubSubError } from './errors.js';
import type { UserAgent } from './user-agent.js';

export const CONFERENCE_EVENT = 'conference';

/** What a watcher subscribes to and how it reads the documents. */
export interface WatchedPackage<Doc> {
  event: string;
  contentType: string;
  parse(xml: string): Doc;
  /** Applies a full or partial document to the view; throws VersionGapError on a gap. */
  apply(view: Doc | undefined, doc: Doc): Doc;
  /** Further SUBSCRIBE header fields (e.g. the Subject filter of wildcard pubsub-data watching). */
  headers?: HeaderField[];
}

export const CONFERENCE_PACKAGE: WatchedPackage<ConferenceInfo> = {
  event: CONFERENCE_EVENT,
  contentType: CONFERENCE_INFO_CONTENT_TYPE,
  parse: parseConferenceInfo,
  apply: applyConferenceInfo,
};

export const DIRECTORY_PACKAGE: WatchedPackage<DirectoryInfo> = {
  event: 'pubsub-conferences',
  contentType: DIRECTORY_CONTENT_TYPE,
  parse: parseDirectoryInfo,
  apply: applyDirectoryInfo,
};
/** PROFILE "Events": conference package default 3600 s, minimum 60 s. */
export const DEFAULT_WATCH_EXPIRES = 3600;
/** How long after our unsubscribe we still take the final NOTIFY. */
const FINAL_NOTIFY_GRACE_MS = 5000;

export interface WatcherOptions {
  /** Requested subscription duration in seconds. Default 3600. 0 fetches the state once (RFC 6665 §4.4.3). */
  expires?: number;
}

export interface WatcherEvents<Doc = ConferenceInfo> {
  /** Each NOTIFY's document and the view after applying it. */
  notify: [doc: Doc, view: Doc];
  /** The subscription ended; `reason` from Subscription-State (RFC 6665 §4.1.3) or why we gave up. */
  terminated: [reason: string];
  /** A NOTIFY body that could not be read (it was still answered 200). */
  invalid: [err: Error];
}

/** When to refresh a subscription of `expires` seconds: a minute early, or halfway for short ones. */
export function refreshDelayMs(expires: number): number {
  return Math.max(expires / 2, expires - 60) * 1000;
}

export class Watcher<Doc = ConferenceInfo> extends EventEmitter<WatcherEvents<Doc>> {
  /** The watched resource: the conference URI, or the factory URI for the directory. */
  readonly conferenceUri: string;
  private view: Doc | undefined;
  private dialog: DialogState | undefined;
  private readonly callId = generateCallId();
  private readonly localTag = generateTag();
  private unregister: () => void;
  private expires: number;
  private refreshTimer: unknown;
  private graceTimer: unknown;
  private refreshing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private ended = false;
  private endedReason: string | undefined;
  private readonly endWaiters: ((reason: string) => void)[] = [];
  /** CSeq of the last SUBSCRIBE we sent before a dialog existed. */
  private initialSeq = 0;

  private constructor(
    private readonly ua: UserAgent,
    conferenceUri: string,
    expires: number,
    private readonly pkg: WatchedPackage<Doc>,
  ) {
    super();
    this.conferenceUri = conferenceUri;
    this.expires = expires;
    // Registered before the SUBSCRIBE goes out: the first NOTIFY may beat the 200 (RFC 6665 §4.1.2.4).
    this.unregister = ua.registerDialog(this.callId, this.localTag, (req, tx) => this.receive(req, tx));
  }

  static async open(
    ua: UserAgent,
    conferenceUri: string,
    opts?: WatcherOptions,
  ): Promise<Watcher<ConferenceInfo>>;
  static async open<D>(
    ua: UserAgent,
    uri: string,
    opts: WatcherOptions,
    pkg: WatchedPackage<D>,
  ): Promise<Watcher<D>>;
  static async open<D>(
    ua: UserAgent,
    conferenceUri: string,
    opts: WatcherOptions = {},
    pkg?: WatchedPackage<D>,
  ): Promise<Watcher<D>> {
    const expires = opts.expires ?? DEFAULT_WATCH_EXPIRES;
    if (!Number.isInteger(expires) || expires < 0)
      throw new RangeError(`expires ${expires}: must be a non-negative integer (seconds)`);
    const watcher = new Watcher<D>(
      ua,
      conferenceUri,
      expires,
      pkg ?? (CONFERENCE_PACKAGE as unknown as WatchedPackage<D>),
    );
    try {
      await watcher.subscribe();
    } catch (err) {
      watcher.finish('rejected', false);
      throw err;
    }
    return watcher;
  }

  /** The current view (undefined until the first NOTIFY). */
  get state(): Doc | undefined {
    return this.view;
  }

  get terminated(): boolean {
    return this.ended;
  }

  /** Resolves with the termination reason once the subscription has ended, or undefined after `timeoutMs`. */
  waitTerminated(timeoutMs: number): Promise<string | undefined> {
    if (this.ended) return Promise.resolve(this.endedReason);
    return new Promise((resolve) => {
      const timer = this.ua.clock.setTimeout(() => resolve(undefined), timeoutMs);
      this.endWaiters.push((reason) => {
        this.ua.clock.clearTimeout(timer);
        resolve(reason);
      });
    });
  }

  /** Unsubscribes (in-dialog SUBSCRIBE with Expires: 0, RFC 6665 §4.2.1.4); resolves after its response. */
  close(): Promise<void> {
    this.closing ??= this.unsubscribe();
    return this.closing;
  }

  private async unsubscribe(): Promise<void> {
    this.stopRefresh();
    if (this.ended || !this.dialog) return;
    const res = await this.ua.request(this.buildSubscribe(0));
    if (this.ended) return;
    if (res.status >= 300) {
      // No subscription left to end (481) or the notifier is unreachable: nothing more will come.
      this.finish(res.status === 481 ? 'noresource' : `unsubscribe failed: ${res.status} ${res.reason}`);
      return;
    }
    this.graceTimer = this.ua.clock.setTimeout(() => this.finish('timeout'), FINAL_NOTIFY_GRACE_MS);
  }

  private async subscribe(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.initialSeq += 1;
      const req = createRequest({
        method: 'SUBSCRIBE',
        uri: this.conferenceUri,
        from: { ...this.ua.from, params: { tag: this.localTag } },
        to: { uri: this.conferenceUri, params: {} },
        callId: this.callId,
        cseq: this.initialSeq,
        contact: this.ua.contact,
        headers: this.subscribeHeaders(this.expires),
      });
      const res = await this.ua.request(req);
      if (this.retryWithMinExpires(res) && attempt === 0) continue;
      if (res.status < 200 || res.status >= 300)
        throw SipPubSubError.fromResponse(res, `watching ${this.conferenceUri}`);
      if (this.dialog) {
        // Created by an early NOTIFY; our side of it is the SUBSCRIBE we just sent.
        this.dialog.localSeq = Math.max(this.dialog.localSeq, this.initialSeq);
        if (getHeaders(res, 'Contact').length > 0)
          this.dialog.remoteTarget = parseNameAddr(getHeaders(res, 'Contact')[0]).uri;
      } else {
        this.dialog = dialogFromUacResponse(req, res);
      }
      this.acceptExpires(res);
      return;
    }
  }

  /** §4.1.2.1 with RFC 3261 §10.2.8: a 423 names the shortest interval the notifier takes; try that once. */
  private retryWithMinExpires(res: SipResponse): boolean {
    if (res.status !== 423) return false;
    const min = Number(getHeader(res, 'Min-Expires'));
    if (!Number.isInteger(min) || min <= this.expires) return false;
    this.expires = min;
    return true;
  }

  private subscribeHeaders(expires: number): HeaderField[] {
    return [
      { name: 'Event', value: this.pkg.event },
      { name: 'Expires', value: String(expires) },
      { name: 'Accept', value: this.pkg.contentType },
      { name: 'Allow', value: 'NOTIFY' },
      ...(this.pkg.headers ?? []),
    ];
  }

  private buildSubscribe(expires: number): SipRequest {
    if (!this.dialog) throw new ClientClosedError('no subscription dialog');
    return createInDialogRequest(this.dialog, 'SUBSCRIBE', {
      headers: [{ name: 'Contact', value: this.ua.contactHeader }, ...this.subscribeHeaders(expires)],
    });
  }

  /** The 2xx's Expires is what the notifier granted (RFC 6665 §4.1.2.1); it may be shorter than asked. */
  private acceptExpires(res: SipResponse): void {
    const granted = Number(getHeader(res, 'Expires'));
    // A fetch: the one NOTIFY that follows also ends the subscription.
    if (this.expires === 0) return;
    if (Number.isInteger(granted) && granted > 0) this.scheduleRefresh(granted);
    else this.scheduleRefresh(this.expires);
  }

  private scheduleRefresh(seconds: number): void {
    this.stopRefresh();
    if (this.ended || this.closing) return;
    this.refreshTimer = this.ua.clock.setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, refreshDelayMs(seconds));
  }

  private stopRefresh(): void {
    if (this.refreshTimer !== undefined) this.ua.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  /** In-dialog SUBSCRIBE (RFC 6665 §4.1.2.2); the notifier answers with a full-state NOTIFY. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        if (this.ended || this.closing || !this.dialog) return;
        let res = await this.ua.request(this.buildSubscribe(this.expires));
        if (this.retryWithMinExpires(res) && !this.ended && !this.closing)
          res = await this.ua.request(this.buildSubscribe(this.expires));
        if (this.ended || this.closing) return;
        if (res.status >= 200 && res.status < 300) this.acceptExpires(res);
        else this.finish(`refresh failed: ${res.status} ${res.reason}`);
      } catch (err) {
        if (!(err instanceof ClientClosedError)) this.finish(`refresh failed: ${(err as Error).message}`);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private receive(req: SipRequest, tx: ServerTransaction | null): void {
    if (tx === null) return;
    if (req.method !== 'NOTIFY') {
      tx.respond(
        createResponse(req, 405, 'Method Not Allowed', { headers: [{ name: 'Allow', value: 'NOTIFY' }] }),
      );
      return;
    }
    let event: ReturnType<typeof parseEvent>;
    let state: ReturnType<typeof parseSubscriptionState>;
    try {
      event = parseEvent(getHeader(req, 'Event') ?? '');
      state = parseSubscriptionState(getHeader(req, 'Subscription-State') ?? '');
    } catch {
      tx.respond(createResponse(req, 400, 'Bad Event or Subscription-State'));
      return;
    }
    // §4.1.2.4: a NOTIFY belongs to our subscription only if Event matches too (we send no id).
    if (event.package !== this.pkg.event || event.id !== undefined) {
      tx.respond(createResponse(req, 481, 'Subscription Does Not Exist'));
      return;
    }
    if (this.ended) {
      tx.respond(createResponse(req, 481, 'Subscription Does Not Exist'));
      return;
    }
    tx.respond(createResponse(req, 200, 'OK'));
    this.noteDialog(req);

    if (req.body.length > 0) this.applyBody(req);

    if (state.state === 'terminated') {
      this.finish(state.reason ?? 'noresource');
      return;
    }
    if (state.expires !== undefined && !this.closing) this.scheduleRefresh(state.expires);
  }

  /** The NOTIFY creates the dialog when it arrives before the 2xx (RFC 6665 §4.1.2.4). */
  private noteDialog(req: SipRequest): void {
    const remoteSeq = parseCSeq(getHeader(req, 'CSeq') ?? '').seq;
    if (this.dialog) {
      if (this.dialog.remoteSeq === undefined || remoteSeq > this.dialog.remoteSeq)
        this.dialog.remoteSeq = remoteSeq;
      return;
    }
    const from = parseNameAddr(getHeader(req, 'From') ?? '');
    const contact = getHeaders(req, 'Contact')[0];
    this.dialog = {
      callId: this.callId,
      localTag: this.localTag,
      remoteTag: typeof from.params.tag === 'string' ? from.params.tag : '',
      localUri: this.ua.aor,
      remoteUri: this.conferenceUri,
      remoteTarget: contact !== undefined ? parseNameAddr(contact).uri : this.conferenceUri,
      // §12.1.1: the UAS-side order, as the NOTIFY's sender recorded them.
      routeSet: getHeaders(req, 'Record-Route'),
      localSeq: this.initialSeq,
      remoteSeq,
      secure: false,
    };
  }

  private applyBody(req: SipRequest): void {
    const type = (getHeader(req, 'Content-Type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== this.pkg.contentType) {
      this.emit(
        'invalid',
        new EventDocumentError(`NOTIFY body of type "${type}" is not ${this.pkg.contentType}`),
      );
      return;
    }
    let doc: Doc;
    let view: Doc;
    try {
      doc = this.pkg.parse(req.body.toString('utf8'));
      view = this.pkg.apply(this.view, doc);
    } catch (err) {
      if (err instanceof VersionGapError) {
        // RFC 4575 §4.6: an old document is dropped; a missed one means our view is stale, so refresh for full state.
        if (!err.stale) void this.refresh();
        return;
      }
      this.emit('invalid', err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.view = view;
    this.emit('notify', doc, view);
  }

  private finish(reason: string, announce = true): void {
    if (this.ended) return;
    this.ended = true;
    this.endedReason = reason;
    this.stopRefresh();
    if (this.graceTimer !== undefined) this.ua.clock.clearTimeout(this.graceTimer);
    this.unregister();
    for (const waiter of this.endWaiters.splice(0)) waiter(reason);
    if (announce) this.emit('terminated', reason);
  }
}
