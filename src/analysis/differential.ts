/**
 * NPCR and UACI between two cipher images (the differential-attack and key-sensitivity
 * measures), with the critical values of Wu, Noonan and Agaian, "NPCR and UACI randomness tests
 * for image encryption" (2011), for the image's bit depth and size.
 */
import { VeilError } from '../errors';
import type { Plane } from './plane';
import { type Judged, judge, normalQuantile } from './statistics';

/** Number of Pixels Change Rate: share (0..1) of positions where the two images differ. */
export function npcr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  sameLength(a, b);
  let changed = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) changed++;
  return a.length === 0 ? 0 : changed / a.length;
}

/** Unified Average Changing Intensity: mean |a - b| / F (0..1), F = 2^bits - 1 the largest level. */
export function uaci(a: ArrayLike<number>, b: ArrayLike<number>, bits: number): number {
  sameLength(a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return a.length === 0 ? 0 : sum / a.length / (2 ** bits - 1);
}

/** Wu-Noonan-Agaian critical values (fractions 0..1) for `samples` samples of `bits` bits. */
export interface WuCriticalValues {
  /** Expected NPCR of two independent random images: F / (F + 1). */
  npcrExpected: number;
  /** NPCR*: a cipher passes when NPCR >= this (one-sided, alpha). */
  npcrCritical: number;
  /** Expected UACI: (F + 2) / (3F + 3). */
  uaciExpected: number;
  /** UACI*-, UACI*+: a cipher passes when UACI lies inside (two-sided, alpha). */
  uaciLow: number;
  uaciHigh: number;
}

/** Computes the critical values (Wu et al. 2011, eqs. 9-12) for alpha (default 0.05). */
export function wuCriticalValues(bits: number, samples: number, alpha = 0.05): WuCriticalValues {
  const F = 2 ** bits - 1;
  const npcrExpected = F / (F + 1);
  const npcrCritical = (F - normalQuantile(1 - alpha) * Math.sqrt(F / samples)) / (F + 1);
  const uaciExpected = (F + 2) / (3 * F + 3);
  const uaciSd = Math.sqrt(((F + 2) * (F * F + 2 * F + 3)) / (18 * (F + 1) ** 2 * samples * F));
  const z = normalQuantile(1 - alpha / 2);
  return {
    npcrExpected,
    npcrCritical,
    uaciExpected,
    uaciLow: uaciExpected - z * uaciSd,
    uaciHigh: uaciExpected + z * uaciSd,
  };
}

/** NPCR and UACI of two cipher planes, judged against Wu's critical values. */
export function differential(a: Plane, b: Plane): { npcr: Judged; uaci: Judged } {
  const wu = wuCriticalValues(a.bits, a.levels.length);
  return {
    npcr: judge(npcr(a.levels, b.levels), wu.npcrExpected, wu.npcrCritical, 1),
    uaci: judge(uaci(a.levels, b.levels, a.bits), wu.uaciExpected, wu.uaciLow, wu.uaciHigh),
  };
}

function sameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) {
    throw new VeilError('VEIL_E_DICOM_BAD_GEOMETRY', 'Compared images differ in size.');
  }
}
