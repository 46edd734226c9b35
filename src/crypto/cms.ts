/**
 * RFC 5652 EnvelopedData as PS3.15 E.1.1 attribute confidentiality and GDCM's gdcmanon use it:
 * RSA key transport to each recipient's certificate and AES-CBC content. Node's crypto does the
 * RSA and the ciphers; node-forge only reads and writes the ASN.1.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import forge from 'node-forge';
import { VeilError } from '../errors';
import {
  bytesOf,
  certificateId,
  cmsError,
  nullNode,
  octets,
  oid,
  parseDer,
  sequence,
  setOf,
  smallInteger,
  tagged,
  toDer,
  type CertificateId,
} from './cms-asn1';
import { CONTENT_CIPHERS, OID, parseEnvelopedData, type ParsedRecipient } from './cms-parse';
import type { PrivateKey, RecipientKey } from './key-ring';
import { unpadPkcs1KeyTransport } from './rsa-pkcs1-unpad';

/** RSA key transport: PKCS#1 v1.5 (PS3.15 E.1.1, the default) or OAEP (SHA-256, MGF1-SHA-256). */
export type KeyTransport = 'rsa-pkcs1v15' | 'rsa-oaep';

/** What an envelope says about itself, without decrypting it. */
export interface EnvelopedDataInfo {
  recipients: {
    issuer: string;
    serialNumber: string;
    keyEncryptionAlgorithm: KeyTransport | string;
    /** Set when the recipient is named by SubjectKeyIdentifier (issuer and serial are then ''). */
    subjectKeyIdentifier?: string;
  }[];
  /** 'aes256-CBC', 'aes128-CBC', 'aes192-CBC', 'des-EDE3-CBC' or the dotted OID of another. */
  contentEncryptionAlgorithm: string;
}

/**
 * DER ContentInfo(EnvelopedData): KeyTransRecipientInfo per recipient (issuerAndSerialNumber of its
 * certificate), content encrypted with AES-256-CBC (random key and IV). Default key transport
 * rsa-pkcs1v15 (the PS3.15 one; Node publicEncrypt with RSA_PKCS1_PADDING is allowed).
 */
export function createEnvelopedData(
  content: Buffer,
  recipients: RecipientKey[],
  options: { keyTransport?: KeyTransport; sharedKey?: CmsSharedKey } = {},
): Buffer {
  const keyTransport = options.keyTransport ?? 'rsa-pkcs1v15';
  if (recipients.length === 0) {
    throw new VeilError('VEIL_E_KEY_NOT_FOUND', 'An envelope needs at least one recipient key.');
  }
  const shared = options.sharedKey;
  const contentKey = shared ? shared.contentKey : randomBytes(32);
  const iv = randomBytes(16);
  try {
    const cipher = createCipheriv('aes-256-cbc', contentKey, iv);
    const encrypted = Buffer.concat([cipher.update(content), cipher.final()]);
    const recipientInfos = recipients.map((r) => {
      if (!shared) return keyTransRecipient(r, contentKey, keyTransport, undefined);
      // A shared content key is wrapped once per recipient and transport; later envelopes reuse the bytes.
      const id = `${r.keyId}/${keyTransport}`;
      let wrapped = shared.encryptedKeys.get(id);
      if (wrapped === undefined) {
        wrapped = wrapContentKey(r, contentKey, keyTransport);
        shared.encryptedKeys.set(id, wrapped);
      }
      return keyTransRecipient(r, contentKey, keyTransport, wrapped);
    });
    // RFC 5652 6.1: version 0 when every recipient is a v0 ktri and there are no attributes.
    const envelopedData = sequence(
      smallInteger(0),
      setOf(recipientInfos),
      sequence(
        oid(OID.data),
        sequence(oid(OID.aes256Cbc), octets(iv)),
        tagged(0, encrypted), // [0] IMPLICIT OCTET STRING
      ),
    );
    return toDer(sequence(oid(OID.envelopedData), tagged(0, [envelopedData])));
  } finally {
    if (!shared) contentKey.fill(0);
  }
}

/**
 * A content-encryption key shared by the envelopes of one series or study (each with its own
 * random IV, which AES-CBC needs and allows): one RSA operation per recipient serves them all,
 * and a reader that caches the unwrapped key pays one RSA private operation for the series.
 */
export interface CmsSharedKey {
  /** 32-byte AES-256 key; kept in memory only. */
  readonly contentKey: Buffer;
  /** Wrapped forms by `${keyId}/${transport}`, filled on first use. */
  readonly encryptedKeys: Map<string, Buffer>;
}

function wrapContentKey(
  recipient: RecipientKey,
  contentKey: Buffer,
  transport: KeyTransport,
): Buffer {
  return publicEncrypt(
    transport === 'rsa-oaep'
      ? { key: recipient.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }
      : { key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING },
    contentKey,
  );
}

function keyTransRecipient(
  recipient: RecipientKey,
  contentKey: Buffer,
  transport: KeyTransport,
  wrapped: Buffer | undefined,
) {
  const id = certificateId(recipient.certificatePem);
  const oaep = transport === 'rsa-oaep';
  const encryptedKey = wrapped ?? wrapContentKey(recipient, contentKey, transport);
  // RFC 4055 4.1 parameters, encoded as OpenSSL does (SHA-2 identifiers without parameters).
  const algorithm = oaep
    ? sequence(
        oid(OID.rsaesOaep),
        sequence(
          tagged(0, [sequence(oid(OID.sha256))]),
          tagged(1, [sequence(oid(OID.mgf1), sequence(oid(OID.sha256)))]),
        ),
      )
    : sequence(oid(OID.rsaEncryption), nullNode());
  return sequence(
    smallInteger(0),
    sequence(parseDer(id.issuerDer, 'issuer'), parseDer(id.serialDer, 'serial number')),
    algorithm,
    octets(encryptedKey),
  );
}

/**
 * Parses without decrypting (for `veil inspect`). Accepts trailing padding after the DER (gdcmanon
 * pads the OB value). VEIL_E_CMS when malformed.
 */
export function inspectEnvelopedData(der: Buffer): EnvelopedDataInfo {
  const envelope = parseEnvelopedData(der);
  return {
    recipients: envelope.recipients.map((r) => ({
      issuer: r.issuer,
      serialNumber: r.serialNumber,
      keyEncryptionAlgorithm: r.keyEncryptionAlgorithm,
      ...(r.subjectKeyIdentifier === undefined
        ? {}
        : { subjectKeyIdentifier: r.subjectKeyIdentifier }),
    })),
    contentEncryptionAlgorithm:
      CONTENT_CIPHERS[envelope.contentEncryptionOid]?.name ?? envelope.contentEncryptionOid,
  };
}

/**
 * Finds the recipient matching one of `keys` (issuer+serial, or subject key identifier, of the
 * key's certificate), unwraps the content key with Node's crypto and decrypts the content.
 * VEIL_E_KEY_NOT_FOUND when no key matches, VEIL_E_KEY_UNWRAP / VEIL_E_CMS otherwise.
 */
export function decryptEnvelopedData(
  der: Buffer,
  keys: PrivateKey[],
  options: { keyCache?: Map<string, Buffer> } = {},
): Buffer {
  const envelope = parseEnvelopedData(der);
  const cipher = CONTENT_CIPHERS[envelope.contentEncryptionOid];
  if (cipher === undefined) {
    return cmsError(
      `content encryption algorithm ${envelope.contentEncryptionOid} is not supported`,
    );
  }
  const params = envelope.contentEncryptionParams;
  const iv = params?.type === forge.asn1.Type.OCTETSTRING ? bytesOf(params, 'IV') : undefined;
  if (iv === undefined || iv.length !== cipher.ivLength) {
    return cmsError('content encryption IV is missing or has the wrong length');
  }
  const encrypted = envelope.encryptedContent;
  if (encrypted === undefined) return cmsError('encrypted content is detached, not supported');
  if (encrypted.length === 0 || encrypted.length % cipher.ivLength !== 0) {
    return cmsError('encrypted content is not a whole number of cipher blocks');
  }
  const pairs = matchingPairs(envelope.recipients, keys);
  if (pairs.length === 0) {
    throw new VeilError(
      'VEIL_E_KEY_NOT_FOUND',
      'None of the available keys is a recipient of this envelope.',
      {
        recipients: envelope.recipients.length,
        keys: keys.length,
      },
    );
  }
  let firstError: unknown;
  const cache = options.keyCache;
  for (const { recipient, key } of pairs) {
    // Cached by a digest of the wrapped key (never the key): a shared series key unwraps once.
    const cacheId =
      cache && `cms:${createHash('sha256').update(recipient.encryptedKey).digest('hex')}`;
    const cached = cacheId === undefined ? undefined : cache?.get(cacheId);
    if (cached !== undefined && cached.length === cipher.keyLength) {
      try {
        return decryptContent(cipher.nodeCipher, cached, iv, encrypted, key.keyId);
      } catch (err) {
        firstError ??= err;
        continue;
      }
    }
    try {
      const contentKey = unwrapContentKey(recipient, key, cipher.keyLength);
      let keep = false;
      try {
        const content = decryptContent(cipher.nodeCipher, contentKey, iv, encrypted, key.keyId);
        // Only a key that decrypted something is cached (PKCS#1 v1.5 implicit rejection yields random keys).
        if (cache && cacheId) {
          cache.set(cacheId, contentKey);
          keep = true;
        }
        return content;
      } finally {
        if (!keep) contentKey.fill(0);
      }
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}

function matchingPairs(recipients: ParsedRecipient[], keys: PrivateKey[]) {
  const ids = keys.map((key) => ({ key, id: certificateId(key.certificatePem) }));
  const pairs: { recipient: ParsedRecipient; key: PrivateKey }[] = [];
  for (const recipient of recipients) {
    for (const { key, id } of ids) {
      if (names(recipient, id)) pairs.push({ recipient, key });
    }
  }
  return pairs;
}

function names(recipient: ParsedRecipient, id: CertificateId): boolean {
  if (recipient.issuerDer !== undefined) {
    return recipient.serialNumber === id.serialNumber && recipient.issuerDer.equals(id.issuerDer);
  }
  return (
    recipient.subjectKeyIdentifier !== undefined &&
    recipient.subjectKeyIdentifier === id.subjectKeyIdentifier
  );
}

function unwrapContentKey(recipient: ParsedRecipient, key: PrivateKey, keyLength: number): Buffer {
  const unwrapFailed = () =>
    new VeilError('VEIL_E_KEY_UNWRAP', 'The content key does not decrypt with this key.', {
      keyId: key.keyId,
    });
  if (recipient.keyEncryptionAlgorithm === 'rsa-pkcs1v15') {
    const k = modulusBytes(key.privateKey);
    if (recipient.encryptedKey.length > k) throw unwrapFailed();
    const block = Buffer.alloc(k);
    recipient.encryptedKey.copy(block, k - recipient.encryptedKey.length);
    let em: Buffer;
    try {
      // Raw RSA (with OpenSSL's blinding); the PKCS#1 v1.5 check is ours, without an oracle.
      em = privateDecrypt({ key: key.privateKey, padding: constants.RSA_NO_PADDING }, block);
    } catch {
      throw unwrapFailed(); // ciphertext not below the modulus
    }
    return unpadPkcs1KeyTransport(em, keyLength);
  }
  const oaep = recipient.oaep;
  if (recipient.keyEncryptionAlgorithm !== 'rsa-oaep' || oaep === undefined) {
    return cmsError(
      `key encryption algorithm ${recipient.keyEncryptionAlgorithm} is not supported`,
    );
  }
  if ('unsupported' in oaep) return cmsError(`RSA-OAEP parameters: ${oaep.unsupported}`);
  let contentKey: Buffer;
  try {
    contentKey = privateDecrypt(
      {
        key: key.privateKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: oaep.hash,
        ...(oaep.label.length > 0 ? { oaepLabel: oaep.label } : {}),
      },
      recipient.encryptedKey,
    );
  } catch {
    throw unwrapFailed();
  }
  if (contentKey.length !== keyLength) throw unwrapFailed();
  return contentKey;
}

function modulusBytes(privateKey: KeyObject): number {
  return Math.ceil((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

function decryptContent(
  nodeCipher: string,
  contentKey: Buffer,
  iv: Buffer,
  encrypted: Buffer,
  keyId: string,
): Buffer {
  try {
    const decipher = createDecipheriv(nodeCipher, contentKey, iv);
    return Buffer.concat([decipher.update(encrypted), decipher.final()]);
  } catch {
    // Bad CBC padding: a wrong or corrupted content key (PKCS#1 v1.5 failures land here by design).
    throw new VeilError(
      'VEIL_E_KEY_UNWRAP',
      'The envelope content does not decrypt with the unwrapped key.',
      {
        keyId,
      },
    );
  }
}
