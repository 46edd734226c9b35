/**
 * Veil's side of the analysis, through the real code path: protect() with an ephemeral RSA key,
 * the pipeline stages recovered with that key, reveal(), a second protect() of the image with one
 * pixel changed under the same data key (as a series-scoped key is shared), and the same
 * stego-marked pixels encrypted under a data key differing in one bit.
 */
import { CONFIG_SCHEMA } from '../config';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { type PrivateKey, type RecipientKey } from '../crypto';
import { Tags, parsePart10 } from '../dicom';
import { VeilError, isVeilError } from '../errors';
import { type ProtectOptions, protect, reveal } from '../protection';
import { decryptStegoPixels, encryptStegoPixels, pipelineStages } from '../protection/stages';
import type { StegoReport } from '../stego';
import { type SourceInstance, withOneSampleChanged } from './source';

/** The ephemeral keys of one analysis run (never stored). */
export interface EphemeralKeys {
  recipient: RecipientKey;
  privateKey: PrivateKey;
  /** Another key pair's private key under the first key's id: reveal must refuse it. */
  impostor: PrivateKey;
}

/** What the Veil run produced: pixel buffers (native layout) and facts. */
export interface VeilRun {
  stegoPixels: Buffer;
  cipherPixels: Buffer;
  /** Ciphertext of the one-pixel-changed image, same data key, fresh salt (production behaviour). */
  differentialCipherPixels: Buffer;
  /** Ciphertext of the same stego pixels, same salt, data key with one bit flipped. */
  keyFlipCipherPixels: Buffer;
  revealedPixels: Buffer;
  /** The sample (storage index) changed for the differential test. */
  changedSample: number;
  protectMs: number;
  revealMs: number;
  inputFileBytes: number;
  protectedFileBytes: number;
  stego: StegoReport;
  /** Re-encrypting the stego pixels with the recovered key reproduced the stored ciphertext. */
  stagesReproduceCiphertext: boolean;
  /** GCM refused the ciphertext under the one-bit-flipped data key (pixels zero-filled). */
  flippedKeyRefused: boolean;
  /** reveal() with the wrong private key: the error code it refused with, or 'accepted'. */
  wrongKeyReveal: string;
}

/** Stego fields of the configuration's default (protection.stego.fields), used unless the caller says. */
export const DEFAULT_STEGO_FIELDS: readonly string[] =
  CONFIG_SCHEMA.protection.stego.fields.default;

/** Runs Veil's pipeline on the source with ephemeral keys. */
export function runVeil(
  source: SourceInstance,
  keys: EphemeralKeys,
  stegoFields: readonly string[] = DEFAULT_STEGO_FIELDS,
): VeilRun {
  const options: ProtectOptions = {
    recipients: [keys.recipient],
    headerConfidentiality: true,
    pseudonymKey: randomBytes(32),
    cmsKeyTransport: 'rsa-pkcs1v15',
    stego: { enabled: true, fields: stegoFields, whenTooSmall: 'minimal' },
    compressed: { default: 'reject' },
  };
  let t = performance.now();
  const protectedObject = protect(source.bytes, options);
  const protectMs = performance.now() - t;
  const stages = pipelineStages(protectedObject.bytes, keys.privateKey);
  const { record, geometry, dataKey } = stages;

  t = performance.now();
  const revealed = reveal(protectedObject.bytes, { privateKeys: [keys.privateKey] });
  const revealMs = performance.now() - t;
  const revealedPixels = revealedPixelsOf(revealed.bytes, source);

  const changedSample = Math.floor(
    (geometry.rows * geometry.columns * geometry.samplesPerPixel) / 2,
  );
  const changed = protect(withOneSampleChanged(source, changedSample), {
    ...options,
    dataKey: { key: dataKey, recipients: record.recipients },
  });
  const differentialCipherPixels = pipelineStages(changed.bytes, keys.privateKey).cipherPixels;

  const flipped = Buffer.from(dataKey);
  flipped[0] = flipped[0]! ^ 0x01;
  const keyFlipCipherPixels = encryptStegoPixels(stages.stegoPixels, flipped, record, geometry);
  const reproduced = encryptStegoPixels(stages.stegoPixels, dataKey, record, geometry);

  let wrongKeyReveal = 'accepted';
  try {
    reveal(protectedObject.bytes, { privateKeys: [keys.impostor] });
  } catch (err) {
    if (!isVeilError(err)) throw err;
    wrongKeyReveal = err.code;
  }
  return {
    stegoPixels: stages.stegoPixels,
    cipherPixels: stages.cipherPixels,
    differentialCipherPixels,
    keyFlipCipherPixels,
    revealedPixels,
    changedSample,
    protectMs,
    revealMs,
    inputFileBytes: source.bytes.length,
    protectedFileBytes: protectedObject.bytes.length,
    stego: protectedObject.report.stego,
    stagesReproduceCiphertext: reproduced.equals(stages.cipherPixels),
    flippedKeyRefused:
      decryptStegoPixels(stages.cipherPixels, flipped, record, geometry) === undefined,
    wrongKeyReveal,
  };
}

/** The revealed instance's Pixel Data value (as long as the source's). */
function revealedPixelsOf(revealedBytes: Buffer, source: SourceInstance): Buffer {
  const value = parsePart10(revealedBytes).dataset.get(Tags.PixelData)?.value;
  if (value === undefined || value.length !== source.pixels.length) {
    throw new VeilError('VEIL_E_REVEAL_PIXELS_TAMPERED', 'Revealed pixels have the wrong length.');
  }
  return value;
}
