/**
 * rewrap(): key rotation for one protected object. The data key is unwrapped with a held key and
 * wrapped for the new recipients, the Encrypted Attributes CMS is re-encrypted for them, the header
 * MAC is recomputed and the record rewritten. Pixel ciphertext and its GCM tags are not touched
 * (their AAD binds no key id nor MAC: see keys.ts), so no pixel is ever decrypted to disk.
 */
import {
  DataSet,
  Tags,
  TransferSyntax,
  bytesElement,
  parsePart10,
  sequenceElement,
  textElement,
  writePart10,
} from '../dicom';
import {
  type KeyTransport,
  type PrivateKey,
  type RecipientKey,
  createEnvelopedData,
  decryptEnvelopedData,
  decryptInto,
  inspectEnvelopedData,
  wrapDataKey,
} from '../crypto';
import { VeilError, isVeilError } from '../errors';
import { assemble } from './assemble';
import { pixelAad } from './keys';
import { protectedRegions, regionsKey } from './pixel-plan';
import { headerMac, recordInstanceKeys, unwrapRecordKey, verifyHeaderMac } from './record-keys';
import { PrivateElement, findVeilBlock, veilTag } from './private-block';
import { ivOf } from './protect';
import { type ProtectionRecord, decodeRecord, encodeRecord } from './record';

/** Keys for a rewrap: any held private key opens the object, `recipients` are its new readers. */
export interface RewrapOptions {
  privateKeys: PrivateKey[];
  recipients: RecipientKey[];
  /** CMS key transport of the new Encrypted Attributes envelope (default: the old envelope's). */
  cmsKeyTransport?: KeyTransport;
  /** Unwrapped data keys by wrappedKeyId, shared with reveal (series share one data key). */
  keyCache?: Map<string, Buffer>;
}

/** The rewrapped object, which key ids it was wrapped for before and after, and its header MACs. */
export interface RewrapResult {
  bytes: Buffer;
  report: { fromKeyIds: string[]; toKeyIds: string[]; fromMac: string; toMac: string };
}

/**
 * Re-wraps one protected object for `options.recipients`. Verifies first, as reveal does (header
 * MAC, pixel length and GCM tags), and refuses with reveal's codes, so a tampered object is never
 * re-sealed as if it were good.
 */
export function rewrap(input: Buffer, options: RewrapOptions): RewrapResult {
  if (options.recipients.length === 0) {
    throw new VeilError('VEIL_E_KEY_NOT_FOUND', 'Rewrap needs at least one new recipient key.');
  }
  const parsed = parsePart10(input);
  const { meta, dataset } = parsed;
  const block = findVeilBlock(dataset);
  if (block === undefined) {
    throw new VeilError(
      'VEIL_E_REVEAL_NOT_PROTECTED',
      'The object carries no Veil protection record.',
    );
  }
  const recordTag = veilTag(block, PrivateElement.ProtectionRecord);
  const recordValue = dataset.get(recordTag)?.value;
  if (recordValue === undefined)
    throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The protection record element is missing.');
  const record = decodeRecord(recordValue);
  if (record.sopInstanceUID !== dataset.string(Tags.SOPInstanceUID)) {
    throw new VeilError(
      'VEIL_E_REVEAL_INSTANCE_MISMATCH',
      'The protection record belongs to another instance.',
    );
  }
  const { dataKey } = unwrapRecordKey(record, options);
  const keys = recordInstanceKeys(dataKey, record);
  verifyHeaderMac(keys.headerMac, dataset, recordTag, record);
  verifyPixels(dataset, record, keys.pixels);

  if (record.header.profile === 'basic-retain-uids') {
    reencryptAttributes(dataset, options);
  }
  const recipients = options.recipients.map((r) => ({
    keyId: r.keyId,
    wrappedKey: wrapDataKey(dataKey, r).toString('base64'),
  }));
  const core = { ...record, recipients };
  const newMac = headerMac(keys.headerMac, dataset, recordTag, core);
  const updated: ProtectionRecord = { ...core, mac: newMac.toString('base64') };
  dataset.set(textElement(recordTag, 'UT', encodeRecord(updated).toString('latin1')));
  // Same transfer syntax as stored: the pixel ciphertext (value or fragments) is copied verbatim.
  const bytes = assemble(
    writePart10(meta, dataset, { transferSyntaxUID: parsed.transferSyntaxUID }),
    [],
  ).bytes;
  return {
    bytes,
    report: {
      fromKeyIds: record.recipients.map((r) => r.keyId),
      toKeyIds: recipients.map((r) => r.keyId),
      fromMac: record.mac,
      toMac: updated.mac,
    },
  };
}

/** Checks length and GCM tags of the pixel ciphertext (into a scratch buffer, wiped after). */
function verifyPixels(dataset: DataSet, record: ProtectionRecord, pixelKey: Buffer): void {
  const { element, regions, geometry } = protectedRegions(dataset, record.pixels.mode);
  const length = regions.reduce((n, r) => n + r.length, 0);
  if (length !== record.pixels.length || regions.length !== record.pixelTags.length) {
    throw new VeilError(
      'VEIL_E_REVEAL_PIXELS_TAMPERED',
      'The encrypted pixel data has the wrong length (truncated or replaced).',
    );
  }
  const aad = pixelAad(record.sopInstanceUID, regionsKey(element?.tag, geometry), length);
  regions.forEach((region, i) => {
    const scratch = Buffer.allocUnsafe(region.length);
    const tag = Buffer.from(record.pixelTags[i]!, 'base64');
    const ok = tag.length === 16 && decryptInto(pixelKey, ivOf(i), aad, region, scratch, tag);
    scratch.fill(0);
    if (!ok) {
      throw new VeilError(
        'VEIL_E_REVEAL_PIXELS_TAMPERED',
        'The encrypted pixel data failed authentication.',
      );
    }
  });
}

/**
 * Decrypts the Encrypted Attributes (PS3.15 E.1.1) with a held key and replaces the sequence by
 * one item enveloped for the new recipients; the encrypted content itself is carried unchanged.
 */
function reencryptAttributes(dataset: DataSet, options: RewrapOptions): void {
  const items = dataset.get(Tags.EncryptedAttributesSequence)?.items ?? [];
  let lastError: unknown;
  for (const item of items) {
    const syntax = item.string(Tags.EncryptedContentTransferSyntaxUID);
    const der = item.get(Tags.EncryptedContent)?.value;
    if (der === undefined || syntax !== TransferSyntax.ExplicitVRLittleEndian) continue;
    let content: Buffer;
    try {
      content = decryptEnvelopedData(
        der,
        options.privateKeys,
        options.keyCache ? { keyCache: options.keyCache } : {},
      );
    } catch (err) {
      if (!isVeilError(err)) throw err;
      lastError = err;
      continue;
    }
    const transport = options.cmsKeyTransport ?? transportOf(der);
    const fresh = createEnvelopedData(content, options.recipients, { keyTransport: transport });
    content.fill(0);
    const replacement = new DataSet()
      .set(
        textElement(
          Tags.EncryptedContentTransferSyntaxUID,
          'UI',
          TransferSyntax.ExplicitVRLittleEndian,
        ),
      )
      .set(
        bytesElement(
          Tags.EncryptedContent,
          'OB',
          fresh.length % 2 ? Buffer.concat([fresh, Buffer.alloc(1)]) : fresh,
        ),
      );
    dataset.set(sequenceElement(Tags.EncryptedAttributesSequence, [replacement]));
    return;
  }
  if (lastError) throw lastError;
  throw new VeilError('VEIL_E_REVEAL_FORMAT', 'The recorded Encrypted Attributes are missing.');
}

/** The key transport of an existing envelope, when it is one Veil writes; else PS3.15's default. */
function transportOf(der: Buffer): KeyTransport {
  const algorithm = inspectEnvelopedData(der).recipients[0]?.keyEncryptionAlgorithm;
  return algorithm === 'rsa-oaep' ? 'rsa-oaep' : 'rsa-pkcs1v15';
}
