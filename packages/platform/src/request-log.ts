// The request a log line belongs to. A service opens a scope where a SIP request enters it (its gRPC
// HandleRequest); every line logged while the request is handled, by any code and any logger made by
// createLogger, carries its Call-ID and conference id without the code that logs naming them. Work the
// request left behind (timers, later NOTIFYs) logs without them once the scope is closed, so a line is
// never attributed to a request that already ended.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from './logging.js';

export interface RequestLogFields {
  callId?: string;
  conferenceId?: string;
  method?: string;
}

interface Scope {
  fields: RequestLogFields;
  open: boolean;
}

const scopes = new AsyncLocalStorage<Scope>();

/** The fields of the request being handled here, or undefined outside one (or after it ended). */
export function requestLogFields(): RequestLogFields | undefined {
  const scope = scopes.getStore();
  return scope?.open ? scope.fields : undefined;
}

/** Runs `handle` as the handling of one request; unset fields are left out of the lines. */
export async function inRequestScope<T>(fields: RequestLogFields, handle: () => Promise<T>): Promise<T> {
  const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== ''));
  const scope: Scope = { fields: defined, open: true };
  try {
    return await scopes.run(scope, handle);
  } finally {
    scope.open = false;
  }
}

/** Statuses that refuse a request for a reason the operator may need (auth, access, SDP, event, overload). */
const LOGGED_REFUSALS: ReadonlySet<number> = new Set([401, 403, 407, 488, 489, 503]);

/**
 * Logs a refusal at info with why (the reason phrase says it): called with the final response where the
 * request entered, so that every refusal is logged once whichever code produced it.
 */
export function logRefusal(logger: Logger, status: number, reason: string): void {
  if (LOGGED_REFUSALS.has(status)) logger.info({ status, reason }, 'request refused');
}
