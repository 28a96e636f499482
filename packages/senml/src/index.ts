export { aggregatePacks } from './aggregate-packs.js';
export { resolvePack } from './resolve-pack.js';
export { decodeSenmlCbor, encodeSenmlCbor, SENML_CBOR_LABELS } from './senml-cbor.js';
export { SenmlError } from './senml-error.js';
export { formatPackLine, LINE_SEPARATOR, parseSenmlJson } from './senml-json.js';
export {
  DEFAULT_MAX_PACK_BYTES,
  DEFAULT_MAX_RECORDS,
  RELATIVE_TIME_LIMIT,
  type ResolvedRecord,
  SENML_VERSION,
  type SenmlLimits,
  type SenmlPack,
  type SenmlRecord,
} from './senml-record.js';
export { validatePack } from './validate-pack.js';
