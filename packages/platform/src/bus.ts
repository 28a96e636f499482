export interface BusMessage {
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

export interface BusSubscription {
  unsubscribe(): void;
}

/**
 * Publish/subscribe on NATS subjects: tokens separated by '.', '*' matches one token, '>' the rest.
 * Implemented over NATS (connectNatsBus) and in process (InProcessBus); both pass bus.contract.ts.
 */
export interface Bus {
  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): void;
  /** Handler errors are caught and logged, never thrown into the bus. */
  subscribe(subject: string, handler: (msg: BusMessage) => void, opts?: { queue?: string }): BusSubscription;
  /** Resolves once everything published so far has been handed to the transport and to local handlers. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export class BusClosedError extends Error {
  override readonly name = 'BusClosedError';
  constructor() {
    super('bus is closed');
  }
}

export class InvalidHeaderError extends Error {
  override readonly name = 'InvalidHeaderError';
}

// Header names are MIME tokens; values may not break the header block (NATS uses HTTP-style headers).
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function assertValidHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw new InvalidHeaderError(`invalid header name ${JSON.stringify(name)}`);
    if (/[\r\n]/.test(value)) throw new InvalidHeaderError(`header ${name} has a line break in its value`);
  }
}
