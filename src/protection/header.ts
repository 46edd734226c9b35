/**
 * Header confidentiality (PS3.15 E.1.1): the Basic Profile replaces or removes identifying
 * attributes and their originals travel in the Encrypted Attributes Sequence (0400,0500) as CMS
 * EnvelopedData over a Modified Attributes Sequence (0400,0550), the layout gdcmanon reads.
 */
import {
  DataSet,
  Tags,
  TransferSyntax,
  bytesElement,
  decodeDataSet,
  encodeElement,
  sequenceElement,
  textElement,
} from '../dicom';
import {
  type CmsSharedKey,
  type KeyTransport,
  type PrivateKey,
  type RecipientKey,
  createEnvelopedData,
  decryptEnvelopedData,
} from '../crypto';
import { VeilError, isVeilError } from '../errors';
import { deidentify } from './confidentiality-profile';

export interface ProtectedHeader {
  profile: 'basic-retain-uids';
  added: number[];
  replaced: number;
  emptied: number;
  removed: number;
}

/** De-identifies `dataset` in place and adds the Encrypted Attributes Sequence holding the originals. */
export function protectHeader(
  dataset: DataSet,
  options: {
    pseudonymKey: Buffer;
    recipients: RecipientKey[];
    keyTransport: KeyTransport;
    sharedKey?: CmsSharedKey;
  },
): ProtectedHeader {
  // An input that already carries Encrypted Attributes keeps them: they travel, encrypted again,
  // inside ours and come back on reveal.
  const earlier = dataset.get(Tags.EncryptedAttributesSequence);
  dataset.delete(Tags.EncryptedAttributesSequence);
  const result = deidentify(dataset, { pseudonymKey: options.pseudonymKey });
  const added = [...result.added];
  if (earlier) result.original.set(earlier);
  else added.push(Tags.EncryptedAttributesSequence);

  const content = encodeElement(
    sequenceElement(Tags.ModifiedAttributesSequence, [result.original]),
  );
  const der = createEnvelopedData(content, options.recipients, {
    keyTransport: options.keyTransport,
    ...(options.sharedKey ? { sharedKey: options.sharedKey } : {}),
  });
  const item = new DataSet()
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
        der.length % 2 ? Buffer.concat([der, Buffer.alloc(1)]) : der,
      ),
    );
  dataset.set(sequenceElement(Tags.EncryptedAttributesSequence, [item]));
  return {
    profile: 'basic-retain-uids',
    added,
    replaced: result.replaced,
    emptied: result.emptied,
    removed: result.removed,
  };
}

/**
 * Decrypts the Encrypted Attributes Sequence and returns the Modified Attributes item (the
 * original values). Tries each item until one decrypts with the given keys (PS3.15 allows one
 * item per recipient set).
 */
export function decryptModifiedAttributes(
  dataset: DataSet,
  keys: PrivateKey[],
  keyCache?: Map<string, Buffer>,
): DataSet {
  const items = dataset.get(Tags.EncryptedAttributesSequence)?.items ?? [];
  if (items.length === 0)
    throw new VeilError('VEIL_E_REVEAL_NOT_PROTECTED', 'No Encrypted Attributes Sequence.');
  let lastError: unknown;
  for (const item of items) {
    const syntax = item.string(Tags.EncryptedContentTransferSyntaxUID);
    const der = item.get(Tags.EncryptedContent)?.value;
    if (der === undefined || syntax !== TransferSyntax.ExplicitVRLittleEndian) continue;
    try {
      return modifiedItemOf(decryptEnvelopedData(der, keys, keyCache ? { keyCache } : {}));
    } catch (err) {
      if (!isVeilError(err)) throw err;
      lastError = err;
    }
  }
  if (lastError) throw lastError;
  throw new VeilError('VEIL_E_CMS', 'No Encrypted Attributes item in Explicit VR Little Endian.');
}

function modifiedItemOf(content: Buffer): DataSet {
  let decoded: DataSet;
  try {
    decoded = decodeDataSet(content);
  } catch (err) {
    throw new VeilError(
      'VEIL_E_CMS',
      'The decrypted attributes are not a valid data set.',
      {},
      { cause: err },
    );
  }
  const seq = decoded.get(Tags.ModifiedAttributesSequence);
  if (seq?.items?.length) return seq.items[0]!;
  // Be lenient with writers that encrypt the item's elements directly.
  return decoded;
}

/** gdcmanon -d semantics for objects without a Veil record: originals back, markers removed. */
export function reidentifyAttributesOnly(dataset: DataSet, original: DataSet): number {
  dataset.delete(Tags.EncryptedAttributesSequence);
  dataset.delete(Tags.PatientIdentityRemoved);
  dataset.delete(Tags.DeidentificationMethod);
  for (const el of original.elements.values()) dataset.set(el);
  return original.size;
}
