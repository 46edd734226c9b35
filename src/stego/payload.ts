/**
 * The bytes hidden in the pixels: patient details and the original pixel digest, authenticated
 * with HMAC-SHA-256. Part of protection format version 1.
 *
 *   'VEIL' | version 1 | kind (1 full, 2 minimal)
 *   full only: field count u16 BE, then per field: keyword length u8 | keyword ASCII |
 *              value length u32 BE | value bytes
 *   pixel digest (32 bytes, SHA-256) | HMAC-SHA-256 of all the above (minimal: first 16 bytes)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { VeilError } from '../errors';

export interface StegoPayload {
  kind: 'full' | 'minimal';
  /** Patient details by DICOM keyword -> raw value bytes as stored in the header (full only). */
  fields: Map<string, Buffer>;
  /** SHA-256 of the original pixel bytes. */
  pixelDigest: Buffer;
}

const MAGIC = Buffer.from('VEIL', 'ascii');
const VERSION = 1;
const KIND_BYTE = { full: 1, minimal: 2 } as const;
const DIGEST_BYTES = 32;
/** Minimal payloads must fit tiny images, so their tag is truncated (RFC 2104 section 5). */
const MAC_BYTES = { full: 32, minimal: 16 } as const;
const HEADER_BYTES = MAGIC.length + 2;
/** DICOM keywords are short ASCII words; allow any visible ASCII up to the u8 length. */
const KEYWORD = /^[\x21-\x7e]{1,255}$/;

/** Bytes of the smallest valid payload (a minimal one): 54. */
export const MIN_PAYLOAD_BYTES = HEADER_BYTES + DIGEST_BYTES + MAC_BYTES.minimal;

/** Encodes: magic 'VEIL', version 1, kind, length-prefixed (keyword, value) fields, digest, then
 *  HMAC-SHA-256 over everything before it (truncate to 16 bytes for 'minimal' only). */
export function encodePayload(payload: StegoPayload, macKey: Buffer): Buffer {
  checkMacKey(macKey);
  const { kind, fields, pixelDigest } = payload;
  if (kind !== 'full' && kind !== 'minimal') {
    throw invalid(`Unknown payload kind ${String(kind)}.`);
  }
  if (pixelDigest.length !== DIGEST_BYTES) {
    throw invalid(`The pixel digest has ${pixelDigest.length} bytes, not ${DIGEST_BYTES}.`);
  }
  const parts: Buffer[] = [MAGIC, Buffer.from([VERSION, KIND_BYTE[kind]])];
  if (kind === 'minimal') {
    if (fields.size > 0) throw invalid('A minimal payload carries no fields.');
  } else {
    if (fields.size > 0xffff) throw invalid(`Too many fields (${fields.size}).`);
    parts.push(u16(fields.size));
    for (const [keyword, value] of fields) {
      // Keyword is named in the message only by its length: keys come from config, never patients.
      if (!KEYWORD.test(keyword))
        throw invalid('A field keyword is not 1-255 visible ASCII bytes.');
      if (value.length > 0xffffffff) throw invalid('A field value exceeds 2^32-1 bytes.');
      parts.push(Buffer.from([keyword.length]), Buffer.from(keyword, 'ascii'), u32(value.length));
      parts.push(value);
    }
  }
  parts.push(pixelDigest);
  const body = Buffer.concat(parts);
  return Buffer.concat([body, mac(macKey, body, kind)]);
}

/** Verifies the HMAC (timing-safe) and decodes; VEIL_E_STEGO_PAYLOAD on any problem. */
export function decodePayload(bytes: Buffer, macKey: Buffer): StegoPayload {
  checkMacKey(macKey);
  if (bytes.length < MIN_PAYLOAD_BYTES) throw invalid('The payload is too short.');
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw invalid('The payload magic is wrong.');
  if (bytes[4] !== VERSION) throw invalid(`Unknown payload version ${String(bytes[4])}.`);
  const kind =
    bytes[5] === KIND_BYTE.full ? 'full' : bytes[5] === KIND_BYTE.minimal ? 'minimal' : undefined;
  if (kind === undefined) throw invalid(`Unknown payload kind byte ${String(bytes[5])}.`);
  const macAt = bytes.length - MAC_BYTES[kind];
  if (macAt < HEADER_BYTES + DIGEST_BYTES) throw invalid('The payload is too short.');
  // Authenticate before parsing anything of variable length.
  const body = bytes.subarray(0, macAt);
  if (!timingSafeEqual(mac(macKey, body, kind), bytes.subarray(macAt))) {
    throw invalid('The payload fails its HMAC (wrong key or altered pixels).');
  }
  const fields = new Map<string, Buffer>();
  let at = HEADER_BYTES;
  const digestAt = macAt - DIGEST_BYTES;
  if (kind === 'full') {
    const need = (n: number): void => {
      if (at + n > digestAt) throw invalid('A payload field runs past the digest.');
    };
    need(2);
    const count = body.readUInt16BE(at);
    at += 2;
    for (let i = 0; i < count; i++) {
      need(1);
      const keywordLength = body[at]!;
      at += 1;
      need(keywordLength);
      const keyword = body.toString('latin1', at, at + keywordLength);
      at += keywordLength;
      if (!KEYWORD.test(keyword)) throw invalid('A payload field keyword is malformed.');
      if (fields.has(keyword)) throw invalid('A payload field keyword repeats.');
      need(4);
      const valueLength = body.readUInt32BE(at);
      at += 4;
      need(valueLength);
      fields.set(keyword, Buffer.from(body.subarray(at, at + valueLength)));
      at += valueLength;
    }
  }
  if (at !== digestAt) throw invalid('The payload has bytes between its fields and digest.');
  return { kind, fields, pixelDigest: Buffer.from(body.subarray(digestAt)) };
}

function mac(macKey: Buffer, body: Buffer, kind: 'full' | 'minimal'): Buffer {
  return createHmac('sha256', macKey).update(body).digest().subarray(0, MAC_BYTES[kind]);
}

function checkMacKey(macKey: Buffer): void {
  if (macKey.length === 0) throw new VeilError('VEIL_E_KEY_INVALID', 'The stego MAC key is empty.');
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function invalid(message: string): VeilError {
  return new VeilError('VEIL_E_STEGO_PAYLOAD', message);
}
