// Validation of a SenML pack against RFC 8428 §4.

import { SenmlError } from './senml-error.js';
import { DEFAULT_MAX_RECORDS, SENML_VERSION, type SenmlLimits, type SenmlPack } from './senml-record.js';

const STRING_FIELDS = new Set(['bn', 'bu', 'n', 'u', 'vs', 'vd']);
const NUMBER_FIELDS = new Set(['bt', 'bv', 'bs', 'v', 's', 't', 'ut']);
const VALUE_FIELDS = ['v', 'vs', 'vb', 'vd'] as const;
const NAME_CHARS = /^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Throws SenmlError at the first rule the pack breaks. */
export function validatePack(pack: unknown, limits: SenmlLimits = {}): asserts pack is SenmlPack {
  if (!Array.isArray(pack)) throw new SenmlError('a SenML pack must be an array of records (RFC 8428 §5)');
  const maxRecords = limits.maxRecords ?? DEFAULT_MAX_RECORDS;
  if (pack.length > maxRecords) {
    throw new SenmlError(`pack has ${pack.length} records, more than the limit of ${maxRecords}`);
  }
  let baseName = '';
  pack.forEach((record: unknown, i) => {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw new SenmlError('is not an object (RFC 8428 §5)', i);
    }
    const r = record as Record<string, unknown>;
    for (const key of Object.keys(r)) checkField(r, key, i);

    const values = VALUE_FIELDS.filter((f) => r[f] !== undefined);
    if (values.length > 1) {
      throw new SenmlError(
        `has more than one value field (${values.join(', ')}) (RFC 8428 §4.2)`,
        i,
        values[1],
      );
    }
    if (typeof r.bn === 'string') baseName = r.bn;
    const name = baseName + (typeof r.n === 'string' ? r.n : '');
    if (name === '')
      throw new SenmlError('has no name: neither bn nor n resolves to one (RFC 8428 §4.5.1)', i, 'n');
    if (!NAME_CHARS.test(name)) {
      const what = /^[A-Za-z0-9]/.test(name)
        ? 'has a character not allowed'
        : 'does not start with a letter or digit';
      throw new SenmlError(
        `name ${JSON.stringify(name)} ${what} (RFC 8428 §4.5.1)`,
        i,
        r.n === undefined ? 'bn' : 'n',
      );
    }
    if (values.length === 0 && r.s === undefined) {
      throw new SenmlError('has neither a value (v, vs, vb, vd) nor a sum (s) (RFC 8428 §4.2)', i, 'v');
    }
  });
}

function checkField(r: Record<string, unknown>, key: string, i: number): void {
  const value = r[key];
  if (value === undefined) return;
  if (STRING_FIELDS.has(key)) {
    if (typeof value !== 'string') throw new SenmlError(`${key} must be a string (RFC 8428 §4.2)`, i, key);
    if (key === 'vd' && (!BASE64URL.test(value) || value.length % 4 === 1)) {
      throw new SenmlError('vd is not base64url without padding (RFC 8428 §5)', i, key);
    }
  } else if (NUMBER_FIELDS.has(key)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new SenmlError(`${key} must be a finite number (RFC 8428 §4.2)`, i, key);
    }
  } else if (key === 'vb') {
    if (typeof value !== 'boolean') throw new SenmlError('vb must be a boolean (RFC 8428 §4.2)', i, key);
  } else if (key === 'bver') {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new SenmlError('bver must be a positive integer (RFC 8428 §4.1)', i, key);
    }
    if (value > SENML_VERSION) {
      throw new SenmlError(`bver ${value} is newer than version ${SENML_VERSION} (RFC 8428 §4.4)`, i, key);
    }
  } else if (key.endsWith('_')) {
    throw new SenmlError(
      `field ${JSON.stringify(key)} must be understood and is not (RFC 8428 §4.4)`,
      i,
      key,
    );
  }
}
