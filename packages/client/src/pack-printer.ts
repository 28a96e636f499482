// How the command line shows packs: one human line per record, or one JSON line per pack.
import { type ResolvedRecord, resolvePack, type SenmlPack } from '@sip-pubsub/senml';

/** `temp = 21.5 Cel  (t=2026-11-21T07:30:00.000Z)` for each record, base fields applied (RFC 8428 §4.6). */
export function formatPackHuman(pack: SenmlPack, nowSeconds: number): string[] {
  return resolvePack(pack, nowSeconds).map(
    (record) => `${describeRecord(record)}  (t=${formatTime(record.t)})`,
  );
}

/** The pack as received, one line of JSON. */
export function formatPackJson(pack: SenmlPack): string {
  return JSON.stringify(pack);
}

/** Short confirmation after a publication: `published to <topic>: temp = 21.5 Cel, hum = 40 %RH`. */
export function formatPublished(topic: string, pack: SenmlPack, nowSeconds: number): string {
  const records = resolvePack(pack, nowSeconds);
  const shown = records.slice(0, 3).map(describeRecord).join(', ');
  const more = records.length > 3 ? `, … (${records.length} records)` : '';
  return `published to ${topic}: ${shown}${more}`;
}

/** `name = value unit`; a sum (RFC 8428 §4.2 `s`) shows as `sum <s>`. */
export function describeRecord(record: ResolvedRecord): string {
  const parts: string[] = [];
  if (record.v !== undefined) parts.push(String(record.v));
  else if (record.vs !== undefined) parts.push(JSON.stringify(record.vs));
  else if (record.vb !== undefined) parts.push(String(record.vb));
  else if (record.vd !== undefined) parts.push(`data:${record.vd}`);
  if (record.s !== undefined) parts.push(`sum ${record.s}`);
  const unit = record.u !== undefined && record.u !== '' ? ` ${record.u}` : '';
  return `${record.n} = ${parts.join(', ')}${unit}`;
}

/** ISO 8601 in UTC when the time is a date JavaScript can show, else the seconds as they are. */
export function formatTime(seconds: number): string {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return String(seconds);
  return new Date(ms).toISOString();
}
