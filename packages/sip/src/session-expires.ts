// RFC 4028 session timer headers: Session-Expires (compact `x`) and Min-SE, as pure codecs.
import { parseDeltaSeconds } from './delta-seconds.js';
import { SipParseError } from './errors.js';
import { parseParams } from './header-values.js';
import { clip } from './uri.js';

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  /** The session interval in seconds. */
  seconds: number;
  /** Who refreshes the session; absent when the sender leaves it to the other side (§9). */
  refresher?: Refresher;
  /** Every parameter as received (names lower-cased), refresher included. */
  params: Record<string, string | null>;
}

/** §4: `Session-Expires = delta-seconds *(SEMI se-params)`, `se-params = refresher-param / generic-param`. */
export function parseSessionExpires(text: string): SessionExpires {
  const semi = text.indexOf(';');
  const seconds = parseDeltaSeconds(semi < 0 ? text : text.slice(0, semi), 'Session-Expires');
  const params = parseParams(semi < 0 ? '' : text.slice(semi));
  if (params === undefined) throw new SipParseError(400, `Malformed Session-Expires: ${clip(text)}`);
  const result: SessionExpires = { seconds, params };
  if ('refresher' in params) {
    const refresher = params.refresher?.toLowerCase();
    // refresher-param = "refresher" EQUAL ("uas" / "uac"): anything else is a syntax error.
    if (refresher !== 'uac' && refresher !== 'uas')
      throw new SipParseError(400, `Malformed Session-Expires refresher: ${clip(text)}`);
    result.refresher = refresher;
  }
  return result;
}

export function formatSessionExpires(value: Pick<SessionExpires, 'seconds' | 'refresher'>): string {
  return value.refresher ? `${value.seconds};refresher=${value.refresher}` : String(value.seconds);
}

/** §5: `Min-SE = delta-seconds *(SEMI generic-param)`; the parameters carry nothing we use. */
export function parseMinSE(text: string): number {
  const semi = text.indexOf(';');
  const seconds = parseDeltaSeconds(semi < 0 ? text : text.slice(0, semi), 'Min-SE');
  if (semi >= 0 && parseParams(text.slice(semi)) === undefined)
    throw new SipParseError(400, `Malformed Min-SE: ${clip(text)}`);
  return seconds;
}
