// The request a log line belongs to. A service opens a scope where a SIP request enters it (its gRPC
// HandleRequest); every line logged while the request is handled, by any code and any logger made by
// createLogger, carries its Call-ID and conference id without the code that logs naming them. Work the
// request left behind (timers, later NOTIFYs) logs without them once the scope is closed, so a line is
// never attributed to a request that already ended.
import { AsyncLocalStorage } from 'node:async_hooks';

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
