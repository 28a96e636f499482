// SenML data model (RFC 8428 §4): a pack is an array of records with base and regular fields.

export interface SenmlRecord {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bs?: number;
  bver?: number;
  n?: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  /** Data value: base64url without padding in JSON (RFC 8428 §5), a byte string in CBOR (§6). */
  vd?: string;
  s?: number;
  t?: number;
  ut?: number;
  [ext: string]: unknown;
}

export type SenmlPack = SenmlRecord[];

/** A record with base fields applied and an absolute time (RFC 8428 §4.6). */
export interface ResolvedRecord extends Pick<SenmlRecord, 'u' | 'v' | 'vs' | 'vb' | 'vd' | 's' | 'ut'> {
  n: string;
  /** Absolute time, seconds since the Unix epoch. */
  t: number;
}

export interface SenmlLimits {
  /** Largest encoded pack in bytes (default 16 KiB). */
  maxPackBytes?: number;
  /** Most records in one pack (default 1000). */
  maxRecords?: number;
}

export const DEFAULT_MAX_PACK_BYTES = 16 * 1024;
export const DEFAULT_MAX_RECORDS = 1000;
/** The SenML version this implementation understands (RFC 8428 §4.4). */
export const SENML_VERSION = 10;
/** Times below 2**28 are relative to now (RFC 8428 §4.5.3). */
export const RELATIVE_TIME_LIMIT = 2 ** 28;
