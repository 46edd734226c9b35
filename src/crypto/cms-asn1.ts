/**
 * Small DER helpers over node-forge's ASN.1 codec for the CMS code: build nodes from Buffers,
 * walk parsed nodes with structural checks, and name a certificate the way CMS does.
 */
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { VeilError } from '../errors';

type Asn1 = forge.asn1.Asn1;
const { asn1 } = forge;
const UNIVERSAL = asn1.Class.UNIVERSAL;
const CONTEXT = asn1.Class.CONTEXT_SPECIFIC;

/** Throws VEIL_E_CMS naming what is wrong with the structure (never its bytes). */
export function cmsError(reason: string, cause?: unknown): never {
  throw new VeilError(
    'VEIL_E_CMS',
    `CMS EnvelopedData: ${reason}.`,
    { reason },
    cause === undefined ? undefined : { cause },
  );
}

/** Parses one DER (or BER) element; trailing bytes are allowed (gdcmanon pads the OB value). */
export function parseDer(der: Buffer, what: string): Asn1 {
  try {
    const options = { strict: true, parseAllBytes: false, decodeBitStrings: false };
    const fromDer = asn1.fromDer as unknown as (bytes: string, opts: typeof options) => Asn1;
    return fromDer(der.toString('binary'), options);
  } catch (err) {
    return cmsError(`${what} is not valid DER`, err);
  }
}

/** DER encoding of a node. */
export function toDer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

/** SEQUENCE of the given nodes. */
export function sequence(...items: Asn1[]): Asn1 {
  return asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, items);
}

/** DER SET OF: elements sorted by their encodings (X.690 11.6). */
export function setOf(items: Asn1[]): Asn1 {
  const sorted = items
    .map((node) => ({ node, der: toDer(node) }))
    .sort((a, b) => Buffer.compare(a.der, b.der))
    .map((entry) => entry.node);
  return asn1.create(UNIVERSAL, asn1.Type.SET, true, sorted);
}

/** OBJECT IDENTIFIER from dotted form. */
export function oid(dotted: string): Asn1 {
  return asn1.create(UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

/** OCTET STRING. */
export function octets(bytes: Buffer): Asn1 {
  return asn1.create(UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes.toString('binary'));
}

/** Small non-negative INTEGER (versions). */
export function smallInteger(value: number): Asn1 {
  return asn1.create(UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(value).getBytes());
}

/** NULL. */
export function nullNode(): Asn1 {
  return asn1.create(UNIVERSAL, asn1.Type.NULL, false, '');
}

/** Context-specific [tag]: constructed (EXPLICIT wrapper) or primitive (IMPLICIT bytes). */
export function tagged(tag: number, value: Asn1[] | Buffer): Asn1 {
  const type = tag as forge.asn1.Type;
  return Array.isArray(value)
    ? asn1.create(CONTEXT, type, true, value)
    : asn1.create(CONTEXT, type, false, value.toString('binary'));
}

/** True when `node` is context-specific [tag]. */
export function isTagged(node: Asn1 | undefined, tag: number): boolean {
  return node !== undefined && node.tagClass === CONTEXT && node.type === (tag as forge.asn1.Type);
}

/** Children of a constructed UNIVERSAL node of the given type (SEQUENCE by default). */
export function childrenOf(
  node: Asn1 | undefined,
  what: string,
  type = asn1.Type.SEQUENCE,
): Asn1[] {
  if (node === undefined || node.tagClass !== UNIVERSAL || node.type !== type) {
    return cmsError(`${what} is missing or has the wrong type`);
  }
  return constructedValue(node, what);
}

/** Children of any constructed node (for context-specific wrappers). */
export function constructedValue(node: Asn1, what: string): Asn1[] {
  if (!Array.isArray(node.value)) return cmsError(`${what} is not constructed`);
  return node.value;
}

/** Dotted OID of an OBJECT IDENTIFIER node. */
export function oidOf(node: Asn1 | undefined, what: string): string {
  if (node === undefined || node.tagClass !== UNIVERSAL || node.type !== asn1.Type.OID) {
    return cmsError(`${what} is not an OBJECT IDENTIFIER`);
  }
  return asn1.derToOid(node.value as string);
}

/** Content bytes of a primitive node, or of a BER constructed string (concatenated segments). */
export function bytesOf(node: Asn1 | undefined, what: string): Buffer {
  if (node === undefined) return cmsError(`${what} is missing`);
  if (typeof node.value === 'string') return Buffer.from(node.value, 'binary');
  return Buffer.concat(node.value.map((segment) => bytesOf(segment, what)));
}

/** INTEGER as uppercase hex without leading zero octets (as X509Certificate.serialNumber). */
export function integerHex(node: Asn1 | undefined, what: string): string {
  if (node === undefined || node.tagClass !== UNIVERSAL || node.type !== asn1.Type.INTEGER) {
    return cmsError(`${what} is not an INTEGER`);
  }
  let bytes = bytesOf(node, what);
  while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1);
  return bytes.toString('hex').toUpperCase();
}

const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.25': 'DC',
};

/** X.501 Name as "CN=..., O=..." in encoding order, for display only. */
export function nameToString(name: Asn1): string {
  const parts: string[] = [];
  for (const rdn of childrenOf(name, 'Name')) {
    for (const atv of childrenOf(rdn, 'RelativeDistinguishedName', asn1.Type.SET)) {
      const [type, value] = childrenOf(atv, 'AttributeTypeAndValue');
      const typeOid = oidOf(type, 'attribute type');
      parts.push(`${ATTRIBUTE_NAMES[typeOid] ?? typeOid}=${directoryString(value)}`);
    }
  }
  return parts.join(', ');
}

function directoryString(value: Asn1 | undefined): string {
  const bytes = bytesOf(value, 'attribute value');
  if (value?.type === asn1.Type.UTF8) return bytes.toString('utf8');
  if (value?.type === asn1.Type.BMPSTRING && bytes.length % 2 === 0)
    return bytes.swap16().toString('utf16le');
  return bytes.toString('latin1');
}

/** How CMS names a recipient's certificate (RFC 5652 10.2.4 and 6.2.1). */
export interface CertificateId {
  /** DER of the issuer Name, compared byte for byte. */
  issuerDer: Buffer;
  issuer: string;
  serialNumber: string;
  /** DER of the serialNumber INTEGER, copied into IssuerAndSerialNumber as is. */
  serialDer: Buffer;
  /** Lowercase hex of the subjectKeyIdentifier extension, when the certificate has one. */
  subjectKeyIdentifier?: string;
}

const SUBJECT_KEY_IDENTIFIER = '2.5.29.14';

/** Certificates parsed so far: a worker meets the same few for every instance (bounded). */
const parsedIds = new Map<string, CertificateId>();
const PARSED_IDS_MAX = 256;

/** Issuer, serial number and subject key identifier of a PEM certificate (memoised). */
export function certificateId(certificatePem: string): CertificateId {
  const known = parsedIds.get(certificatePem);
  if (known !== undefined) return known;
  const id = parseCertificateId(certificatePem);
  if (parsedIds.size >= PARSED_IDS_MAX) parsedIds.delete(parsedIds.keys().next().value as string);
  parsedIds.set(certificatePem, id);
  return id;
}

function parseCertificateId(certificatePem: string): CertificateId {
  const der = new X509Certificate(certificatePem).raw;
  const [tbs] = childrenOf(parseDer(der, 'certificate'), 'Certificate');
  const fields = childrenOf(tbs, 'TBSCertificate');
  // RFC 5280 4.1: version is [0] EXPLICIT and optional (absent means v1).
  const start = isTagged(fields[0], 0) ? 1 : 0;
  const issuerNode = fields[start + 2];
  if (issuerNode === undefined) return cmsError('certificate has no issuer');
  const id: CertificateId = {
    issuerDer: toDer(issuerNode),
    issuer: nameToString(issuerNode),
    serialNumber: integerHex(fields[start], 'certificate serial number'),
    serialDer: toDer(fields[start] as Asn1),
  };
  const extensions = fields.slice(start + 6).find((field) => isTagged(field, 3));
  if (extensions !== undefined) {
    const [list] = constructedValue(extensions, 'extensions');
    for (const extension of childrenOf(list, 'Extensions')) {
      const parts = childrenOf(extension, 'Extension');
      if (oidOf(parts[0], 'extension id') !== SUBJECT_KEY_IDENTIFIER) continue;
      const value = bytesOf(parts[parts.length - 1], 'extension value');
      id.subjectKeyIdentifier = bytesOf(parseDer(value, 'subjectKeyIdentifier'), 'keyid').toString(
        'hex',
      );
    }
  }
  return id;
}
