/**
 * The convenience layer protect() and reveal() call: a 32-bit length prefix and the encoded
 * payload at keyed positions, the full / minimal / skipped choice, and the quality report.
 */
import { VeilError } from '../errors';
import { type SampleLayout, checkLayout, storedBitsOf } from './layout';
import { embedBits, extractBits, extractBitsAt, restoreBits, restoreBitsAt } from './lsb';
import { selectPositions } from './positions';
import { MIN_PAYLOAD_BYTES, type StegoPayload, decodePayload, encodePayload } from './payload';

/** What to do when the full payload does not fit: fall back to the minimal one, or skip stego. */
export type TooSmallPolicy = 'minimal' | 'skip';

/** What embedPayload did, for the protection report and the audit log. */
export interface StegoReport {
  outcome: 'full' | 'minimal' | 'skipped';
  reason?: string; // why minimal/skipped, e.g. "capacity 4096 bits < full payload 5120 bits"
  capacityBits: number;
  bitsUsed: number;
  samplesChanged: number;
  psnr: number; // dB of stego vs original over the stored bits (Infinity when nothing changed)
}

/** Keys of one instance: where the bits go, and what authenticates them. */
export interface StegoKeys {
  positionKey: Buffer;
  macKey: Buffer;
}

/** Bits of the big-endian length prefix that precedes the payload. */
const PREFIX_BITS = 32;

/** Embeds the payload (32-bit big-endian bit length prefix, then the encoded payload) at keyed
 *  positions in place; chooses full / minimal / skipped per policy and capacity. Returns the
 *  restoration record (undefined when skipped) and the report. Never throws for "too small". */
export function embedPayload(
  pixels: Uint8Array,
  layout: SampleLayout,
  keys: StegoKeys,
  payload: StegoPayload,
  policy: TooSmallPolicy,
): { restoration?: Buffer; report: StegoReport } {
  checkLayout(layout);
  const capacityBits = layout.sampleCount;
  const minimal = encodePayload(
    { kind: 'minimal', fields: new Map(), pixelDigest: payload.pixelDigest },
    keys.macKey,
  );
  const full = payload.kind === 'full' ? encodePayload(payload, keys.macKey) : undefined;
  const bitsFor = (encoded: Buffer): number => PREFIX_BITS + encoded.length * 8;
  const skipped = (reason: string): { report: StegoReport } => ({
    report: {
      outcome: 'skipped',
      reason,
      capacityBits,
      bitsUsed: 0,
      samplesChanged: 0,
      psnr: Infinity,
    },
  });

  // The prefix counts payload bits in 32 bits, so a larger payload cannot be framed at all.
  if (full !== undefined && bitsFor(full) <= capacityBits && full.length * 8 <= 0xffffffff) {
    return embedEncoded(pixels, layout, keys.positionKey, full, 'full');
  }
  const fullShortfall =
    full === undefined
      ? undefined
      : `capacity ${capacityBits} bits < full payload ${bitsFor(full)} bits`;
  if (full !== undefined && policy === 'skip') return skipped(fullShortfall!);
  if (bitsFor(minimal) > capacityBits) {
    return skipped(`capacity ${capacityBits} bits < minimal payload ${bitsFor(minimal)} bits`);
  }
  const embedded = embedEncoded(pixels, layout, keys.positionKey, minimal, 'minimal');
  // A payload asked for as minimal is no fallback, so it needs no reason.
  if (fullShortfall !== undefined) embedded.report.reason = fullShortfall;
  return embedded;
}

/** Reads the length prefix then the payload at the keyed positions and decodes/verifies it. */
export function extractPayload(
  pixels: Uint8Array,
  layout: SampleLayout,
  keys: StegoKeys,
): { payload: StegoPayload; bitsUsed: number; positions: readonly number[] } {
  checkLayout(layout);
  if (layout.sampleCount < PREFIX_BITS + MIN_PAYLOAD_BYTES * 8) {
    throw new VeilError('VEIL_E_STEGO_PAYLOAD', 'The image is too small to hold a payload.');
  }
  const payloadBits = extractBits(pixels, layout, keys.positionKey, PREFIX_BITS).readUInt32BE(0);
  const bitsUsed = PREFIX_BITS + payloadBits;
  if (
    payloadBits % 8 !== 0 ||
    payloadBits < MIN_PAYLOAD_BYTES * 8 ||
    bitsUsed > layout.sampleCount
  ) {
    throw new VeilError(
      'VEIL_E_STEGO_PAYLOAD',
      'The embedded length prefix is invalid (no payload, wrong key or altered pixels).',
    );
  }
  // Positions are prefix-stable, so the first 32 of these are the prefix just read.
  const positions = selectPositions(keys.positionKey, bitsUsed, layout.sampleCount);
  const bits = extractBitsAt(pixels, layout, positions, bitsUsed);
  return {
    payload: decodePayload(bits.subarray(PREFIX_BITS / 8), keys.macKey),
    bitsUsed,
    positions,
  };
}

/**
 * Restores the original bits after extractPayload, given the restoration record and bitsUsed; with
 * the positions extractPayload returned, they are not chosen a second time.
 */
export function restorePayloadBits(
  pixels: Uint8Array,
  layout: SampleLayout,
  positionKey: Buffer,
  restoration: Buffer,
  bitsUsed: number,
  positions?: readonly number[],
): void {
  if (positions) restoreBitsAt(pixels, layout, positions, restoration, bitsUsed);
  else restoreBits(pixels, layout, positionKey, restoration, bitsUsed);
}

/**
 * PSNR in dB of the stego image against the original over the stored bits:
 * MAX = 2^BitsStored - 1; each changed sample moves by exactly one unit of the stored value, so
 * MSE = samplesChanged / sampleCount and PSNR = 10 * log10(MAX^2 / MSE). Infinity when nothing changed.
 */
export function psnr(layout: SampleLayout, bitsStored: number, samplesChanged: number): number {
  if (!Number.isInteger(bitsStored) || bitsStored < 1 || bitsStored > 32) {
    throw new VeilError(
      'VEIL_E_DICOM_BAD_GEOMETRY',
      `Bits Stored ${String(bitsStored)} is outside 1..32.`,
    );
  }
  if (samplesChanged <= 0) return Infinity;
  const max = 2 ** bitsStored - 1;
  const mse = samplesChanged / layout.sampleCount;
  return 10 * Math.log10((max * max) / mse);
}

function embedEncoded(
  pixels: Uint8Array,
  layout: SampleLayout,
  positionKey: Buffer,
  encoded: Buffer,
  outcome: 'full' | 'minimal',
): { restoration: Buffer; report: StegoReport } {
  const prefix = Buffer.alloc(PREFIX_BITS / 8);
  prefix.writeUInt32BE(encoded.length * 8);
  const bitsUsed = PREFIX_BITS + encoded.length * 8;
  const { restoration, changed } = embedBits(
    pixels,
    layout,
    positionKey,
    Buffer.concat([prefix, encoded]),
    bitsUsed,
  );
  return {
    restoration,
    report: {
      outcome,
      capacityBits: layout.sampleCount,
      bitsUsed,
      samplesChanged: changed,
      psnr: psnr(layout, storedBitsOf(layout), changed),
    },
  };
}
