// Dialog routing through the edge (RFC 3261 §16.6 step 4, §16.4, §12.1.1). The edge is the only SIP hop
// between a UA and the owners, so it Record-Routes itself on every dialog-creating request: a UA that
// follows §12.1.2 then sends its in-dialog requests to the edge, whatever SIP_DOMAIN resolves to.
import {
  addHeader,
  formatHost,
  getHeader,
  getHeaders,
  parseNameAddr,
  parseUri,
  removeFirstHeaderValue,
  type SipRequest,
  type SipResponse,
  type SipUri,
  type TransportProtocol,
  tagOf,
} from '@sip-pubsub/sip';

/** Methods whose out-of-dialog request creates a dialog we keep (RFC 3261 §12, RFC 6665 §4.1, RFC 3515). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

export interface EdgeAddress {
  /** SIP_ADVERTISE_HOST: what peers use to reach this edge. */
  host: string;
  /** SIP_DOMAIN: a Route naming it without a port reaches us through the domain's SRV records. */
  domain: string;
  /** Bound port of each transport. */
  ports: Partial<Record<TransportProtocol, number>>;
}

/** True for an out-of-dialog INVITE, SUBSCRIBE or REFER (no To tag). */
export function createsDialog(req: SipRequest): boolean {
  if (!DIALOG_CREATING.has(req.method)) return false;
  const to = getHeader(req, 'To');
  return to !== undefined && tagOf(to) === undefined;
}

/** Our Record-Route value for a flow on `transport`: `<sip:host:port;transport=x;lr>` (RFC 7118 §5 for ws). */
export function recordRouteValue(edge: EdgeAddress, transport: TransportProtocol): string {
  const port = edge.ports[transport] ?? edge.ports.udp ?? edge.ports.tcp;
  const scheme = transport === 'wss' ? 'sips' : 'sip';
  const param = transport === 'wss' ? 'ws' : transport;
  return `<${scheme}:${formatHost(edge.host)}${port === undefined ? '' : `:${port}`};transport=${param};lr>`;
}

function uriOf(value: string): SipUri | undefined {
  try {
    return parseUri(parseNameAddr(value).uri);
  } catch {
    return undefined;
  }
}

/** A Route (or Request-URI) that names this edge: our advertised host on one of our ports, or the bare domain. */
export function namesEdge(uri: SipUri | undefined, edge: EdgeAddress): boolean {
  if (!uri || uri.user !== undefined) return false;
  const host = uri.host.toLowerCase();
  const ports = new Set(Object.values(edge.ports));
  const port = uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060);
  if (host === edge.host.toLowerCase() && ports.has(port)) return true;
  return host === edge.domain.toLowerCase() && (uri.port === undefined || ports.has(port));
}

/**
 * §16.4 for a request the edge received: a Request-URI naming us came from a strict router (the real target
 * is the last Route); then every top Route value naming us is ours to remove. Returns how many were removed.
 */
export function consumeOwnRoutes(req: SipRequest, edge: EdgeAddress): number {
  let removed = 0;
  const routes = getHeaders(req, 'Route');
  if (routes.length > 0 && namesEdge(safeUri(req.uri), edge)) {
    const last = routes[routes.length - 1];
    req.uri = parseNameAddr(last).uri;
    removeLastRoute(req);
    removed++;
  }
  return removed + removeOwnTopRoutes(req, edge);
}

/** Removes the top Route values naming us (a request the owners send carries the dialog's route set). */
export function removeOwnTopRoutes(req: SipRequest, edge: EdgeAddress): number {
  let removed = 0;
  // No Route (most requests): nothing to parse, and no parse error thrown and caught per request.
  for (let top = getHeaders(req, 'Route')[0]; top !== undefined && namesEdge(uriOf(top), edge); ) {
    removeFirstHeaderValue(req, 'Route');
    removed++;
    top = getHeaders(req, 'Route')[0];
  }
  return removed;
}

function safeUri(text: string): SipUri | undefined {
  try {
    return parseUri(text);
  } catch {
    return undefined;
  }
}

function removeLastRoute(req: SipRequest): void {
  for (let i = req.headers.length - 1; i >= 0; i--) {
    const field = req.headers[i];
    if (field.name.toLowerCase() !== 'route') continue;
    const values = getHeaders({ ...req, headers: [field] }, 'Route');
    if (values.length <= 1) req.headers.splice(i, 1);
    else req.headers[i] = { name: field.name, value: values.slice(0, -1).join(', ') };
    return;
  }
}

/** §16.6 step 4: our Record-Route on top of any the request already carries. */
export function recordRoute(req: SipRequest, edge: EdgeAddress, transport: TransportProtocol): void {
  addHeader(req, 'Record-Route', recordRouteValue(edge, transport), 'first');
}

/**
 * §12.1.1: the UAS copies the request's Record-Route into a dialog-creating response (101-299). The owners
 * build their answers from the request as they received it; where one did not copy them, the edge does.
 */
export function copyRecordRoute(req: SipRequest, res: SipResponse): void {
  if (res.status <= 100 || res.status >= 300) return;
  if (getHeaders(res, 'Record-Route').length > 0) return;
  const values = getHeaders(req, 'Record-Route');
  const at = res.headers.findIndex((h) => h.name.toLowerCase() === 'content-length');
  const fields = values.map((value) => ({ name: 'Record-Route', value }));
  if (at < 0) res.headers.push(...fields);
  else res.headers.splice(at, 0, ...fields);
}
