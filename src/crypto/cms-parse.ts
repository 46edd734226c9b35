/**
 * Reads RFC 5652 ContentInfo(EnvelopedData) into plain data without decrypting anything:
 * recipients (KeyTransRecipientInfo only), the content cipher and the encrypted content.
 */
import forge from 'node-forge';
import {
  bytesOf,
  childrenOf,
  cmsError,
  constructedValue,
  integerHex,
  isTagged,
  nameToString,
  oidOf,
  parseDer,
  toDer,
} from './cms-asn1';

type Asn1 = forge.asn1.Asn1;

/** Object identifiers used by the CMS code (RFC 5652, RFC 3565, RFC 4055, RFC 8017). */
export const OID = {
  data: '1.2.840.113549.1.7.1',
  envelopedData: '1.2.840.113549.1.7.3',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  pSpecified: '1.2.840.113549.1.1.9',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
} as const;

const DIGESTS: Record<string, string> = {
  [OID.sha1]: 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  [OID.sha256]: 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** A content cipher Veil can undo: PS3.15 E.1.1 names AES-CBC and 3DES-CBC. */
export interface ContentCipher {
  name: string;
  nodeCipher: string;
  keyLength: number;
  ivLength: number;
}

/** Content encryption algorithms by OID (RFC 3565 for AES, RFC 3370 4.3.1 for 3DES). */
export const CONTENT_CIPHERS: Record<string, ContentCipher> = {
  '2.16.840.1.101.3.4.1.2': {
    name: 'aes128-CBC',
    nodeCipher: 'aes-128-cbc',
    keyLength: 16,
    ivLength: 16,
  },
  '2.16.840.1.101.3.4.1.22': {
    name: 'aes192-CBC',
    nodeCipher: 'aes-192-cbc',
    keyLength: 24,
    ivLength: 16,
  },
  [OID.aes256Cbc]: { name: 'aes256-CBC', nodeCipher: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  '1.2.840.113549.3.7': {
    name: 'des-EDE3-CBC',
    nodeCipher: 'des-ede3-cbc',
    keyLength: 24,
    ivLength: 8,
  },
};

/** RSAES-OAEP parameters Node's privateDecrypt can honour, or why not. */
export type OaepParams = { hash: string; label: Buffer } | { unsupported: string };

/** One KeyTransRecipientInfo (RFC 5652 6.2.1). */
export interface ParsedRecipient {
  /** DER issuer Name when the rid is IssuerAndSerialNumber. */
  issuerDer?: Buffer;
  issuer: string;
  serialNumber: string;
  /** Lowercase hex when the rid is a SubjectKeyIdentifier. */
  subjectKeyIdentifier?: string;
  /** 'rsa-pkcs1v15', 'rsa-oaep' or the dotted OID of anything else. */
  keyEncryptionAlgorithm: string;
  oaep?: OaepParams;
  encryptedKey: Buffer;
}

/** The parts of an EnvelopedData that decryption and inspection need. */
export interface ParsedEnvelope {
  recipients: ParsedRecipient[];
  contentEncryptionOid: string;
  contentEncryptionParams: Asn1 | undefined;
  encryptedContent: Buffer | undefined;
}

/** Parses ContentInfo(EnvelopedData); trailing bytes after the DER are ignored. VEIL_E_CMS when malformed. */
export function parseEnvelopedData(der: Buffer): ParsedEnvelope {
  const [contentType, wrapper] = childrenOf(parseDer(der, 'ContentInfo'), 'ContentInfo');
  if (oidOf(contentType, 'content type') !== OID.envelopedData) {
    return cmsError('content type is not envelopedData');
  }
  if (wrapper === undefined || !isTagged(wrapper, 0)) return cmsError('content is missing');
  const fields = childrenOf(constructedValue(wrapper, 'content')[0], 'EnvelopedData');
  integerHex(fields[0], 'version');
  let next = 1;
  if (isTagged(fields[next], 0)) next += 1; // originatorInfo: certificates, not needed here
  const recipientInfos = childrenOf(fields[next], 'RecipientInfos', forge.asn1.Type.SET);
  const [, algorithm, encrypted] = childrenOf(fields[next + 1], 'EncryptedContentInfo');
  const [algorithmOid, params] = childrenOf(algorithm, 'contentEncryptionAlgorithm');
  return {
    // kari, kekri, pwri and ori are [1]..[4]-tagged; only ktri is an untagged SEQUENCE.
    recipients: recipientInfos.filter((ri) => !isAnyTagged(ri)).map(parseKeyTransRecipient),
    contentEncryptionOid: oidOf(algorithmOid, 'content encryption algorithm'),
    contentEncryptionParams: params,
    encryptedContent: isTagged(encrypted, 0) ? bytesOf(encrypted, 'encryptedContent') : undefined,
  };
}

function isAnyTagged(node: Asn1): boolean {
  return node.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC;
}

function parseKeyTransRecipient(node: Asn1): ParsedRecipient {
  const [version, rid, keyAlgorithm, encryptedKey] = childrenOf(node, 'KeyTransRecipientInfo');
  integerHex(version, 'KeyTransRecipientInfo version');
  if (encryptedKey?.type !== forge.asn1.Type.OCTETSTRING)
    return cmsError('encryptedKey is missing');
  const [algorithmOid, params] = childrenOf(keyAlgorithm, 'keyEncryptionAlgorithm');
  const algorithm = oidOf(algorithmOid, 'key encryption algorithm');
  const recipient: ParsedRecipient = {
    issuer: '',
    serialNumber: '',
    keyEncryptionAlgorithm: algorithm,
    encryptedKey: bytesOf(encryptedKey, 'encryptedKey'),
  };
  if (isTagged(rid, 0)) {
    recipient.subjectKeyIdentifier = bytesOf(rid, 'subjectKeyIdentifier').toString('hex');
  } else {
    const [issuer, serial] = childrenOf(rid, 'IssuerAndSerialNumber');
    if (issuer === undefined) return cmsError('recipient issuer is missing');
    recipient.issuerDer = toDer(issuer);
    recipient.issuer = nameToString(issuer);
    recipient.serialNumber = integerHex(serial, 'recipient serial number');
  }
  if (algorithm === OID.rsaEncryption) recipient.keyEncryptionAlgorithm = 'rsa-pkcs1v15';
  if (algorithm === OID.rsaesOaep) {
    recipient.keyEncryptionAlgorithm = 'rsa-oaep';
    recipient.oaep = parseOaepParams(params);
  }
  return recipient;
}

/** RFC 4055 4.1 RSAES-OAEP-params; every field defaults to SHA-1 / MGF1-SHA-1 / empty label. */
function parseOaepParams(params: Asn1 | undefined): OaepParams {
  let hash = OID.sha1 as string;
  let mgfHash = OID.sha1 as string;
  let label: Buffer = Buffer.alloc(0);
  const fields =
    params === undefined || params.type === forge.asn1.Type.NULL
      ? []
      : childrenOf(params, 'RSAES-OAEP-params');
  for (const field of fields) {
    const [algorithm] = constructedValue(field, 'RSAES-OAEP-params field');
    const [fieldOid, fieldParams] = childrenOf(algorithm, 'AlgorithmIdentifier');
    if (isTagged(field, 0)) hash = oidOf(fieldOid, 'OAEP hash');
    if (isTagged(field, 1)) {
      if (oidOf(fieldOid, 'OAEP mask generation') !== OID.mgf1)
        return { unsupported: 'mask generation function is not MGF1' };
      mgfHash = oidOf(childrenOf(fieldParams, 'MGF1 hash')[0], 'MGF1 hash');
    }
    if (isTagged(field, 2)) {
      if (oidOf(fieldOid, 'OAEP label source') !== OID.pSpecified)
        return { unsupported: 'label source is not pSpecified' };
      label = bytesOf(fieldParams, 'OAEP label');
    }
  }
  const digest = DIGESTS[hash];
  if (digest === undefined) return { unsupported: `OAEP hash ${hash} is not supported` };
  // Node's privateDecrypt applies one digest to both OAEP and MGF1 (OpenSSL's default pairing).
  if (mgfHash !== hash) return { unsupported: 'MGF1 hash differs from the OAEP hash' };
  return { hash: digest, label };
}
