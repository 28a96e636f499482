// Expires negotiation for SUBSCRIBE (RFC 6665 §4.2.1.1).
import type { EventPackageSpec } from './event-packages.js';

export type ExpiresDecision =
  | { ok: true; expires: number }
  | { ok: false; status: 423; minExpires: number }
  | { ok: false; status: 400; reason: string };

/**
 * Decides the duration of a subscription from the SUBSCRIBE's Expires header value:
 * absent → the package default; 0 → 0 (fetch or unsubscribe); below the minimum → 423 with
 * Min-Expires; above the maximum → the maximum; anything but delta-seconds → 400.
 */
export function negotiateExpires(spec: EventPackageSpec, requested: string | undefined): ExpiresDecision {
  if (requested === undefined) return { ok: true, expires: Math.min(spec.defaultExpires, spec.maxExpires) };
  const text = requested.trim();
  // RFC 3261 §25.1 delta-seconds = 1*DIGIT; no sign, no fraction.
  if (!/^[0-9]+$/.test(text)) return { ok: false, status: 400, reason: 'Invalid Expires value' };
  const seconds = Number(text);
  if (seconds === 0) return { ok: true, expires: 0 };
  if (seconds < spec.minExpires) return { ok: false, status: 423, minExpires: spec.minExpires };
  return { ok: true, expires: Math.min(seconds, spec.maxExpires) };
}
