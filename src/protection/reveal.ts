/**
 * reveal(): a protected object in, the original instance out, verified: header MAC, pixel GCM
 * tags, stego payload HMAC, restored-pixel digest and the hidden patient details against the
 * restored header. Any mismatch is a VeilError naming what failed; wrong pixels never leave.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type DataSet, Tags, makeTag, parsePart10, tagOfKeyword, writePart10 } from '../dicom';
import { decryptInto, openBytes } from '../crypto';
import { VeilError, isVeilError } from '../errors';
import { extractPayload, restorePayloadBits, sampleLayout } from '../stego';
import { assemble } from './assemble';
import { decryptModifiedAttributes, reidentifyAttributesOnly } from './header';
import { type instanceKeys, pixelAad } from './keys';
import type { RevealOptions, RevealReport } from './options';
import { protectedRegions, regionsKey } from './pixel-plan';
import { recordInstanceKeys, unwrapRecordKey, verifyHeaderMac } from './record-keys';
import {
  PRIVATE_GROUP,
  PrivateElement,
  findVeilBlock,
  veilBlockTags,
  veilTag,
} from './private-block';
import { type ProtectionRecord, decodeRecord } from './record';
import { ivOf, trimPadding } from './protect';
import { reidentify } from './confidentiality-profile';

export interface RevealResult {
  /** The original instance (Explicit VR Little Endian, or its compressed syntax for opaque fragments). */
  bytes: Buffer;
  report: RevealReport;
}

/** Reveals one protected object. */
export function reveal(input: Buffer, options: RevealOptions): RevealResult {
  const parsed = parsePart10(input);
  const { meta, dataset } = parsed;
  const block = findVeilBlock(dataset);
  if (block === undefined) {
    if (!dataset.has(Tags.EncryptedAttributesSequence)) {
      throw new VeilError(
        'VEIL_E_REVEAL_NOT_PROTECTED',
        'The object carries no Veil protection record or encrypted attributes.',
      );
    }
    if (hasVeilRemnant(dataset)) {
      // A Veil object whose creator was altered would otherwise pass as attributes-only and
      // deliver its encrypted pixels as if they were the original ones.
      throw new VeilError(
        'VEIL_E_REVEAL_FORMAT',
        'The object carries a damaged Veil private block.',
      );
    }
    const restored = reidentifyAttributesOnly(
      dataset,
      decryptModifiedAttributes(dataset, options.privateKeys, options.keyCache),
    );
    const pixel = dataset.get(Tags.PixelData);
    return {
      bytes: assemble(
        writePart10(meta, dataset, {
          transferSyntaxUID: outputSyntax(parsed.transferSyntaxUID, !!pixel?.fragments),
        }),
        [],
      ).bytes,
      report: {
        kind: 'attributes-only',
        pixelMode: 'clear',
        stego: { outcome: 'none', verified: false, fieldsChecked: 0 },
        header: { reidentified: true, restored },
      },
    };
  }

  const recordTag = veilTag(block, PrivateElement.ProtectionRecord);
  const recordValue = dataset.get(recordTag)?.value;
  if (recordValue === undefined)
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The protection record element is missing.');
  const record = decodeRecord(recordValue);
  const sopInstanceUID = dataset.string(Tags.SOPInstanceUID);
  if (record.sopInstanceUID !== sopInstanceUID) {
    throw new VeilError(
      'VEIL_E_REVEAL_INSTANCE_MISMATCH',
      'The protection record belongs to another instance.',
    );
  }
  const { dataKey, keyId } = unwrapRecordKey(record, options);
  const keys = recordInstanceKeys(dataKey, record);
  verifyHeaderMac(keys.headerMac, dataset, recordTag, record);

  const { element, regions, geometry } = protectedRegions(dataset, record.pixels.mode);
  const pixelLength = regions.reduce((n, r) => n + r.length, 0);
  if (pixelLength !== record.pixels.length || regions.length !== record.pixelTags.length) {
    throw new VeilError(
      'VEIL_E_REVEAL_PIXELS_TAMPERED',
      'The encrypted pixel data has the wrong length (truncated or replaced).',
    );
  }

  // Veil's block goes first: the restored originals may reuse its private block number.
  for (const tag of veilBlockTags(dataset, block)) dataset.delete(tag);
  let restored = 0;
  if (record.header.profile === 'basic-retain-uids') {
    const original = decryptModifiedAttributes(dataset, options.privateKeys, options.keyCache);
    restored = original.size;
    reidentify(dataset, original, record.header.added);
  }

  const syntax = outputSyntax(
    record.pixels.originalTransferSyntaxUID,
    record.pixels.mode === 'encapsulated',
  );
  // Ciphertext is decrypted straight from the input into its place in the output: one pass.
  const { bytes, offsets } = assemble(
    writePart10(meta, dataset, { transferSyntaxUID: syntax }),
    regions,
    { fillRegions: false },
  );
  const aad = pixelAad(record.sopInstanceUID, regionsKey(element?.tag, geometry), pixelLength);
  regions.forEach((region, i) => {
    const target = bytes.subarray(offsets[i]!, offsets[i]! + region.length);
    const tag = Buffer.from(record.pixelTags[i]!, 'base64');
    if (tag.length !== 16 || !decryptInto(keys.pixels, ivOf(i), aad, region, target, tag)) {
      throw new VeilError(
        'VEIL_E_REVEAL_PIXELS_TAMPERED',
        'The encrypted pixel data failed authentication.',
      );
    }
  });

  let fieldsChecked = 0;
  if (record.stego.outcome !== 'skipped') {
    if (geometry === undefined || regions.length !== 1) {
      throw new VeilError(
        'VEIL_E_REVEAL_FORMAT',
        'Stego is recorded for pixels that cannot carry it.',
      );
    }
    const pixels = bytes.subarray(offsets[0]!, offsets[0]! + regions[0]!.length);
    fieldsChecked = verifyStego(pixels, sampleLayout(geometry), keys, record, dataset);
  }
  return {
    bytes,
    report: {
      kind: 'veil',
      keyId,
      protectionMac: record.mac,
      pixelMode: record.pixels.mode,
      stego: {
        outcome: record.stego.outcome,
        verified: record.stego.outcome !== 'skipped',
        fieldsChecked,
      },
      header: { reidentified: record.header.profile !== 'none', restored },
    },
  };
}

/** Compressed objects keep their transfer syntax (opaque fragments); everything else is written Explicit VR LE. */
function outputSyntax(original: string, encapsulated: boolean): string {
  return encapsulated ? original : '1.2.840.10008.1.2.1';
}

function verifyStego(
  pixels: Buffer,
  layout: ReturnType<typeof sampleLayout>,
  keys: ReturnType<typeof instanceKeys>,
  record: ProtectionRecord,
  dataset: DataSet,
): number {
  const sealed = record.stego.restoration;
  const restoration =
    sealed === undefined
      ? undefined
      : openBytes(
          keys.restoration,
          Buffer.from(record.sopInstanceUID, 'latin1'),
          Buffer.from(sealed, 'base64'),
        );
  if (restoration === undefined) {
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The stego restoration record does not verify.');
  }
  let payload;
  try {
    payload = extractPayload(pixels, layout, {
      positionKey: keys.stegoPositions,
      macKey: keys.stegoMac,
    });
  } catch (err) {
    if (!isVeilError(err)) throw err;
    throw new VeilError(
      'VEIL_E_REVEAL_STEGO_MISMATCH',
      'The hidden payload does not verify.',
      {},
      { cause: err },
    );
  }
  if (payload.bitsUsed !== record.stego.bitsUsed) {
    throw new VeilError(
      'VEIL_E_REVEAL_STEGO_MISMATCH',
      'The hidden payload length differs from the record.',
    );
  }
  restorePayloadBits(
    pixels,
    layout,
    keys.stegoPositions,
    restoration,
    payload.bitsUsed,
    payload.positions,
  );
  const digest = createHash('sha256').update(pixels).digest();
  if (!timingSafeEqual(digest, payload.payload.pixelDigest)) {
    pixels.fill(0);
    throw new VeilError(
      'VEIL_E_REVEAL_STEGO_MISMATCH',
      'The restored pixels do not match the hidden digest.',
    );
  }
  for (const [keyword, value] of payload.payload.fields) {
    const tag = tagOfKeyword(keyword);
    const actual = tag === undefined ? undefined : dataset.get(tag)?.value;
    if (actual === undefined || !trimPadding(actual).equals(value)) {
      throw new VeilError(
        'VEIL_E_REVEAL_STEGO_MISMATCH',
        `The hidden ${keyword} does not match the restored header.`,
      );
    }
  }
  return payload.payload.fields.size;
}

/**
 * True when group 0009 holds what is left of a Veil block whose creator no longer matches: a
 * creator naming Veil or a record-shaped (0009,xx10) value. Such objects were Veil-protected.
 */
function hasVeilRemnant(dataset: DataSet): boolean {
  for (let block = 0x10; block <= 0xff; block++) {
    const creator = dataset.string(makeTag(PRIVATE_GROUP, block));
    if (creator !== undefined && /veil|protection/i.test(creator)) return true;
    const record = dataset.get(veilTag(block, PrivateElement.ProtectionRecord))?.value;
    if (record !== undefined && record.includes('"sopInstanceUID"')) return true;
  }
  return false;
}
