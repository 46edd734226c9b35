/**
 * Intermediate stages of Veil's pixel pipeline for one protected object, for `veil analyze`:
 * the stego-marked pixels before AES-256-GCM and the stored ciphertext, recovered with the real
 * keys and the same helpers protect() and reveal() use (subkeys, IV, AAD). Nothing here changes
 * what protect() writes or what reveal() accepts.
 */
import { type PixelGeometry, Tags, parsePart10 } from '../dicom';
import { type PrivateKey, decryptInto, encryptInto, unwrapDataKey } from '../crypto';
import { VeilError } from '../errors';
import { instanceKeys, pixelAad } from './keys';
import { geometryKey, protectedRegions } from './pixel-plan';
import { PrivateElement, findVeilBlock, veilTag } from './private-block';
import { ivOf } from './protect';
import { type ProtectionRecord, decodeRecord } from './record';

/** The pixel stages of one protected native-pixel object. */
export interface PipelineStages {
  record: ProtectionRecord;
  /** The unwrapped 256-bit data key (analysis only: never logged or written). */
  dataKey: Buffer;
  geometry: PixelGeometry;
  /** Stego-marked pixels: the exact plaintext protect() encrypted (a copy). */
  stegoPixels: Buffer;
  /** The ciphertext as stored in Pixel Data (a copy). */
  cipherPixels: Buffer;
}

/**
 * Recovers the stages of a protected object: unwraps the data key with `privateKey` (RSA-OAEP),
 * derives the per-instance pixel key and decrypts the Pixel Data, checking its GCM tag.
 */
export function pipelineStages(protectedBytes: Buffer, privateKey: PrivateKey): PipelineStages {
  const { dataset } = parsePart10(protectedBytes);
  const block = findVeilBlock(dataset);
  const recordValue =
    block === undefined
      ? undefined
      : dataset.get(veilTag(block, PrivateElement.ProtectionRecord))?.value;
  if (recordValue === undefined) {
    throw new VeilError('VEIL_E_REVEAL_NOT_PROTECTED', 'The object carries no Veil record.');
  }
  const record = decodeRecord(recordValue);
  if (record.pixels.mode !== 'native' && record.pixels.mode !== 'decoded') {
    throw new VeilError(
      'VEIL_E_DICOM_BAD_GEOMETRY',
      'Pipeline stages exist only for native (or decoded) integer pixels.',
    );
  }
  if (dataset.string(Tags.SOPInstanceUID) !== record.sopInstanceUID) {
    throw new VeilError(
      'VEIL_E_REVEAL_INSTANCE_MISMATCH',
      'The protection record belongs to another instance.',
    );
  }
  const recipient = record.recipients.find((r) => r.keyId === privateKey.keyId);
  if (recipient === undefined) {
    throw new VeilError('VEIL_E_KEY_NOT_FOUND', 'The object is not wrapped for this key.');
  }
  const dataKey = unwrapDataKey(Buffer.from(recipient.wrappedKey, 'base64'), privateKey);
  const { regions, geometry } = protectedRegions(dataset, record.pixels.mode);
  if (geometry === undefined || regions.length !== 1) {
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The protected pixels are not one native value.');
  }
  const cipherPixels = Buffer.from(regions[0]!);
  const stegoPixels = decryptStegoPixels(cipherPixels, dataKey, record, geometry);
  if (stegoPixels === undefined) {
    throw new VeilError(
      'VEIL_E_REVEAL_PIXELS_TAMPERED',
      'The encrypted pixel data failed authentication.',
    );
  }
  return { record, dataKey, geometry, stegoPixels, cipherPixels };
}

/**
 * Encrypts stego-marked pixels as protect() does for this record (same salt, IV and AAD) under
 * `dataKey`: with the record's own key it reproduces the stored ciphertext byte for byte.
 */
export function encryptStegoPixels(
  stegoPixels: Buffer,
  dataKey: Buffer,
  record: ProtectionRecord,
  geometry: PixelGeometry,
): Buffer {
  const out = Buffer.alloc(stegoPixels.length);
  encryptInto(pixelKey(dataKey, record), ivOf(0), aadOf(record, geometry), stegoPixels, out);
  return out;
}

/**
 * Decrypts stored ciphertext under `dataKey` as reveal() does; undefined when the GCM tag
 * refuses it (a wrong key, or altered pixels).
 */
export function decryptStegoPixels(
  cipherPixels: Buffer,
  dataKey: Buffer,
  record: ProtectionRecord,
  geometry: PixelGeometry,
): Buffer | undefined {
  const out = Buffer.alloc(cipherPixels.length);
  const tag = Buffer.from(record.pixelTags[0] ?? '', 'base64');
  const ok = decryptInto(
    pixelKey(dataKey, record),
    ivOf(0),
    aadOf(record, geometry),
    cipherPixels,
    out,
    tag,
  );
  return ok ? out : undefined;
}

function pixelKey(dataKey: Buffer, record: ProtectionRecord): Buffer {
  return instanceKeys(dataKey, Buffer.from(record.salt, 'base64')).pixels;
}

function aadOf(record: ProtectionRecord, geometry: PixelGeometry): Buffer {
  return pixelAad(record.sopInstanceUID, geometryKey(geometry), record.pixels.length);
}
