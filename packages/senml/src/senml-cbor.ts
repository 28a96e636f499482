// SenML CBOR representation with integer labels (RFC 8428 §6).

import { Encoder } from 'cbor-x';
import { SenmlError } from './senml-error.js';
import {
  DEFAULT_MAX_PACK_BYTES,
  type SenmlLimits,
  type SenmlPack,
  type SenmlRecord,
} from './senml-record.js';
import { validatePack } from './validate-pack.js';

/** RFC 8428 §6 Table 6. */
export const SENML_CBOR_LABELS: Readonly<Record<string, number>> = Object.freeze({
  bver: -1,
  bn: -2,
  bt: -3,
  bu: -4,
  bv: -5,
  bs: -6,
  n: 0,
  u: 1,
  v: 2,
  vs: 3,
  vb: 4,
  s: 5,
  t: 6,
  ut: 7,
  vd: 8,
});
const NAME_OF_LABEL = new Map(Object.entries(SENML_CBOR_LABELS).map(([name, label]) => [label, name]));

// Plain CBOR only: no record extension, Uint8Array as a byte string, maps decoded as Map.
const CBOR_OPTIONS = { useRecords: false, mapsAsObjects: false, tagUint8Array: false } as const;
const encoder = new Encoder(CBOR_OPTIONS);

/** Encodes a pack as application/senml+cbor; extension fields keep their text labels. */
export function encodeSenmlCbor(pack: SenmlPack): Buffer {
  const records = pack.map((r) => {
    const map = new Map<number | string, unknown>();
    for (const [key, value] of Object.entries(r)) {
      if (value === undefined) continue;
      const label = SENML_CBOR_LABELS[key];
      if (label === undefined) map.set(key, value);
      else map.set(label, key === 'vd' ? Buffer.from(String(value), 'base64url') : value);
    }
    return map;
  });
  return encoder.encode(records);
}

/** Decodes and validates application/senml+cbor. Throws SenmlError. */
export function decodeSenmlCbor(buf: Uint8Array, limits: SenmlLimits = {}): SenmlPack {
  const maxBytes = limits.maxPackBytes ?? DEFAULT_MAX_PACK_BYTES;
  if (buf.length > maxBytes)
    throw new SenmlError(`pack of ${buf.length} bytes exceeds the limit of ${maxBytes}`);
  let value: unknown;
  try {
    // A fresh decoder per pack, so nothing a peer sends can shape how the next pack decodes.
    value = new Encoder(CBOR_OPTIONS).decode(buf);
  } catch (err) {
    throw new SenmlError(`not well-formed CBOR: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) throw new SenmlError('a SenML pack must be a CBOR array of maps (RFC 8428 §6)');
  const pack = value.map((item: unknown, i) => toRecord(item, i));
  validatePack(pack, limits);
  return pack;
}

function toRecord(item: unknown, i: number): SenmlRecord {
  if (!(item instanceof Map)) throw new SenmlError('is not a CBOR map (RFC 8428 §6)', i);
  const record: SenmlRecord = {};
  for (const [label, raw] of item) {
    let key: string;
    if (typeof label === 'number') {
      const name = NAME_OF_LABEL.get(label);
      if (name === undefined) throw new SenmlError(`has unknown CBOR label ${label} (RFC 8428 §6)`, i);
      key = name;
    } else if (typeof label === 'string') {
      key = label;
    } else {
      throw new SenmlError('has a CBOR label that is neither an integer nor a text string (RFC 8428 §6)', i);
    }
    let value: unknown = typeof raw === 'bigint' ? Number(raw) : raw;
    if (key === 'vd') {
      if (!(raw instanceof Uint8Array))
        throw new SenmlError('vd must be a CBOR byte string (RFC 8428 §6)', i, 'vd');
      value = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
    }
    record[key] = value;
  }
  return record;
}
