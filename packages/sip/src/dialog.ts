import { parseCSeq } from './cseq.js';
import { getHeader, getHeaders } from './headers.js';
import type { HeaderField, SipRequest, SipResponse } from './message.js';
import { formatNameAddr, parseNameAddr } from './name-addr.js';
import { finishRequest } from './request.js';
import { uriScheme } from './uri.js';

/** Dialog state (§12), plain data so it can be stored as JSON and rebuilt by another replica. */
export interface DialogState {
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  /** Route set in the order used for requests we send (§12.1.1 UAS order, §12.1.2 reversed for UAC). */
  routeSet: string[];
  localSeq: number;
  remoteSeq?: number;
  secure: boolean;
}

export class DialogError extends Error {
  override readonly name = 'DialogError';
}

function required(msg: SipRequest | SipResponse, name: string): string {
  const value = getHeader(msg, name);
  if (value === undefined) throw new DialogError(`Cannot build dialog: missing ${name}`);
  return value;
}

function tag(value: string, which: string): string {
  const t = parseNameAddr(value).params.tag;
  if (typeof t !== 'string' || t === '') throw new DialogError(`Cannot build dialog: ${which} has no tag`);
  return t;
}

function contactUri(msg: SipRequest | SipResponse): string {
  const contact = getHeaders(msg, 'Contact')[0];
  if (contact === undefined) throw new DialogError('Cannot build dialog: missing Contact');
  return parseNameAddr(contact).uri;
}

/** §12.1.1: the UAS builds the dialog from the request and the response it sends. */
export function dialogFromUasResponse(req: SipRequest, res: SipResponse): DialogState {
  return {
    callId: required(req, 'Call-ID'),
    localTag: tag(required(res, 'To'), 'To of the response'),
    remoteTag: tag(required(req, 'From'), 'From'),
    localUri: parseNameAddr(required(req, 'To')).uri,
    remoteUri: parseNameAddr(required(req, 'From')).uri,
    remoteTarget: contactUri(req),
    routeSet: getHeaders(req, 'Record-Route'),
    localSeq: 0,
    remoteSeq: parseCSeq(required(req, 'CSeq')).seq,
    secure: uriScheme(req.uri) === 'sips',
  };
}

/** §12.1.2: the UAC builds the dialog from its request and the 2xx (or 1xx with tag) it received. */
export function dialogFromUacResponse(req: SipRequest, res: SipResponse): DialogState {
  return {
    callId: required(req, 'Call-ID'),
    localTag: tag(required(req, 'From'), 'From'),
    remoteTag: tag(required(res, 'To'), 'To of the response'),
    localUri: parseNameAddr(required(req, 'From')).uri,
    remoteUri: parseNameAddr(required(req, 'To')).uri,
    remoteTarget: contactUri(res),
    routeSet: getHeaders(res, 'Record-Route').reverse(),
    localSeq: parseCSeq(required(req, 'CSeq')).seq,
    secure: uriScheme(req.uri) === 'sips',
  };
}

export interface InDialogRequestOptions {
  headers?: HeaderField[];
  body?: Buffer | string;
  contentType?: string;
  /** CSeq number: for ACK the INVITE's number (default: current localSeq); for others it replaces the increment. */
  cseq?: number;
}

/**
 * §12.2.1.1: a request inside the dialog. Increments dialog.localSeq (the dialog is mutated) except for ACK,
 * which reuses the INVITE's number (opts.cseq, else the current localSeq). No Via: the transaction layer adds it.
 */
export function createInDialogRequest(
  dialog: DialogState,
  method: string,
  opts: InDialogRequestOptions = {},
): SipRequest {
  let seq: number;
  if (method === 'ACK') seq = opts.cseq ?? dialog.localSeq;
  else {
    seq = opts.cseq ?? dialog.localSeq + 1;
    dialog.localSeq = seq;
  }
  let uri = dialog.remoteTarget;
  let routes = dialog.routeSet;
  if (routes.length > 0) {
    const first = parseNameAddr(routes[0]);
    if (!('lr' in parseUriParamsLoose(first.uri))) {
      // Strict router (RFC 2543): it goes in the Request-URI and the remote target becomes the last Route.
      uri = stripUriHeaders(first.uri);
      routes = [...routes.slice(1), formatNameAddr({ uri: dialog.remoteTarget, params: {} })];
    }
  }
  const headers: HeaderField[] = [
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: formatNameAddr({ uri: dialog.localUri, params: { tag: dialog.localTag } }) },
    { name: 'To', value: formatNameAddr({ uri: dialog.remoteUri, params: { tag: dialog.remoteTag } }) },
    { name: 'Call-ID', value: dialog.callId },
    { name: 'CSeq', value: `${seq} ${method}` },
  ];
  for (const route of routes) headers.push({ name: 'Route', value: route });
  return finishRequest(method, uri, headers, opts);
}

/** Parameters of any URI scheme, without validating the rest; enough to look for `lr`. */
function parseUriParamsLoose(uri: string): Record<string, string | null> {
  const params: Record<string, string | null> = {};
  const q = uri.indexOf('?');
  const noHeaders = q < 0 ? uri : uri.slice(0, q);
  const at = noHeaders.indexOf('@');
  const semi = noHeaders.indexOf(';', Math.max(at, 0));
  if (semi < 0) return params;
  for (const p of noHeaders.slice(semi + 1).split(';')) {
    const eq = p.indexOf('=');
    params[(eq < 0 ? p : p.slice(0, eq)).toLowerCase()] = eq < 0 ? null : p.slice(eq + 1);
  }
  return params;
}

function stripUriHeaders(uri: string): string {
  const q = uri.indexOf('?');
  return q < 0 ? uri : uri.slice(0, q);
}

/** Updates the dialog with a request received inside it (§12.2.2); returns false for an out-of-order CSeq. */
export function acceptRemoteSequence(dialog: DialogState, req: SipRequest): boolean {
  const { seq } = parseCSeq(required(req, 'CSeq'));
  if (req.method === 'ACK' || req.method === 'CANCEL') return true;
  if (dialog.remoteSeq !== undefined && seq <= dialog.remoteSeq) return false;
  dialog.remoteSeq = seq;
  return true;
}

/** The dialog a received request names (§12.2.2): local tag from To, remote tag from From. */
export function dialogIdOfRequest(
  req: SipRequest,
): { callId: string; localTag: string; remoteTag: string } | undefined {
  try {
    const localTag = parseNameAddr(getHeader(req, 'To') ?? '').params.tag;
    const remoteTag = parseNameAddr(getHeader(req, 'From') ?? '').params.tag;
    if (typeof localTag !== 'string') return undefined;
    return {
      callId: getHeader(req, 'Call-ID') ?? '',
      localTag,
      remoteTag: typeof remoteTag === 'string' ? remoteTag : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * §12.2.2 for a UAS: the refusal due to an in-dialog request, or undefined when it may be processed
 * (the dialog's remote CSeq is then advanced). No dialog: 481. CSeq not above the last one: 500.
 */
export function checkInDialogRequest(
  dialog: DialogState | undefined,
  req: SipRequest,
): { status: number; reason: string } | undefined {
  if (!dialog) return { status: 481, reason: 'Call/Transaction Does Not Exist' };
  if (!acceptRemoteSequence(dialog, req)) return { status: 500, reason: 'CSeq Out of Order' };
  return undefined;
}
