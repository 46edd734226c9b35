/**
 * One error type with stable codes. Expected failures (bad DICOM, tampered ciphertext, missing
 * key...) are VeilErrors; anything else is a bug. Codes are documented in docs/errors.md and a
 * test keeps the two lists in step.
 */

/** How an error code maps onto the wire: HTTP status and DIMSE status (PS3.7 Annex C). */
export interface ErrorCodeSpec {
  /** HTTP status returned by the DICOMweb and admin API. */
  readonly http: number;
  /** DIMSE status returned by the DIMSE listener (0xA9xx data set mismatch, 0xC000 cannot understand...). */
  readonly dimse: number;
  /** One line for docs and logs; never contains patient data. */
  readonly summary: string;
}

/** Every error code Veil raises. Add new codes here and in docs/errors.md. */
export const ERROR_CODES = {
  // DICOM parsing and geometry
  VEIL_E_DICOM_NOT_DICOM: {
    http: 400,
    dimse: 0xc000,
    summary: 'Input is not a DICOM Part 10 file or data set.',
  },
  VEIL_E_DICOM_TRUNCATED: {
    http: 400,
    dimse: 0xc000,
    summary: 'DICOM input ends before an element it declares.',
  },
  VEIL_E_DICOM_MALFORMED: {
    http: 400,
    dimse: 0xc000,
    summary: 'DICOM input breaks the encoding rules (lengths, VRs, sequence delimiters).',
  },
  VEIL_E_DICOM_TRANSFER_SYNTAX: {
    http: 415,
    dimse: 0xc000,
    summary: 'Transfer syntax is unknown or not supported.',
  },
  VEIL_E_DICOM_MISSING_ATTRIBUTE: {
    http: 400,
    dimse: 0xa900,
    summary: 'A required attribute (e.g. SOP Instance UID, Rows) is missing.',
  },
  VEIL_E_DICOM_BAD_GEOMETRY: {
    http: 400,
    dimse: 0xa900,
    summary: 'Pixel geometry attributes are inconsistent or unsupported.',
  },
  VEIL_E_DICOM_PIXELS_SHORT: {
    http: 400,
    dimse: 0xa900,
    summary: 'Pixel Data is shorter than the image geometry requires.',
  },
  VEIL_E_DICOM_NO_PIXELS: {
    http: 400,
    dimse: 0xa900,
    summary: 'The instance has no Pixel Data to protect.',
  },
  VEIL_E_DICOM_CODEC: {
    http: 400,
    dimse: 0xc000,
    summary: 'Compressed pixel data could not be decoded.',
  },
  // Pixel policy
  VEIL_E_POLICY_REJECTED: {
    http: 415,
    dimse: 0xa900,
    summary: 'The configured policy rejects this transfer syntax.',
  },
  // Steganography
  VEIL_E_STEGO_CAPACITY: {
    http: 422,
    dimse: 0xa900,
    summary: 'The image is too small for the stego payload.',
  },
  VEIL_E_STEGO_PAYLOAD: {
    http: 422,
    dimse: 0xc000,
    summary: 'The embedded stego payload is malformed or fails its HMAC.',
  },
  // Keys and cryptography
  VEIL_E_KEY_NOT_FOUND: {
    http: 404,
    dimse: 0xc000,
    summary: 'No private key for any recipient of this object.',
  },
  VEIL_E_KEY_INVALID: {
    http: 400,
    dimse: 0xc000,
    summary: 'A key or certificate cannot be read or has the wrong type or size.',
  },
  VEIL_E_KEY_UNWRAP: {
    http: 422,
    dimse: 0xc000,
    summary: 'The wrapped data key does not decrypt with the available key.',
  },
  VEIL_E_KEYSTORE: {
    http: 500,
    dimse: 0xc000,
    summary: 'The key store is missing, unreadable or inconsistent.',
  },
  VEIL_E_CMS: {
    http: 422,
    dimse: 0xc000,
    summary: 'A CMS EnvelopedData structure is malformed or uses an unsupported algorithm.',
  },
  // Protection and reveal
  VEIL_E_PROTECT_ALREADY_PROTECTED: {
    http: 409,
    dimse: 0xa900,
    summary: 'The instance is already protected by Veil.',
  },
  VEIL_E_REVEAL_NOT_PROTECTED: {
    http: 422,
    dimse: 0xc000,
    summary: 'The object carries no Veil protection record or encrypted attributes.',
  },
  VEIL_E_REVEAL_FORMAT: {
    http: 422,
    dimse: 0xc000,
    summary: 'The archived object or its protection record is malformed, or of an unknown version.',
  },
  VEIL_E_REVEAL_PIXELS_TAMPERED: {
    http: 422,
    dimse: 0xc000,
    summary: 'Encrypted pixel data failed authentication (altered or truncated).',
  },
  VEIL_E_REVEAL_HEADER_TAMPERED: {
    http: 422,
    dimse: 0xc000,
    summary: 'The protected header was altered after protection.',
  },
  VEIL_E_REVEAL_INSTANCE_MISMATCH: {
    http: 422,
    dimse: 0xc000,
    summary: 'The protection record or pixels belong to another instance.',
  },
  VEIL_E_REVEAL_STEGO_MISMATCH: {
    http: 422,
    dimse: 0xc000,
    summary: 'The hidden details do not match the restored header or pixels.',
  },
  VEIL_E_REVEAL_TRUNCATED: {
    http: 422,
    dimse: 0xc000,
    summary: 'The archived object ends early (truncated in the archive or in transfer).',
  },
  VEIL_E_REVEAL_STALE: {
    http: 422,
    dimse: 0xc000,
    summary:
      'A valid protected object, but not the version Veil archived last (replayed or replaced).',
  },
  // Configuration and CLI
  VEIL_E_CONFIG_INVALID: {
    http: 500,
    dimse: 0xc000,
    summary: 'The configuration is invalid; the message names the key.',
  },
  VEIL_E_IO: { http: 500, dimse: 0xa700, summary: 'A file could not be read or written.' },
  VEIL_E_USAGE: { http: 400, dimse: 0xc000, summary: 'A command was called with wrong arguments.' },
  // Gateway: archive, spool, queue, HTTP and DIMSE doors
  VEIL_E_ARCHIVE_NOT_FOUND: {
    http: 404,
    dimse: 0xa701,
    summary: 'The archive does not hold the requested object.',
  },
  VEIL_E_ARCHIVE_UNAVAILABLE: {
    http: 503,
    dimse: 0xa702,
    summary: 'The archive cannot be reached or refused the request.',
  },
  VEIL_E_ARCHIVE_UNSUPPORTED: {
    http: 501,
    dimse: 0xc000,
    summary: 'The archive backend cannot do this operation (e.g. delete over plain DICOMweb).',
  },
  VEIL_E_SPOOL_FULL: {
    http: 507,
    dimse: 0xa700,
    summary: 'The spool volume is (nearly) full; new instances are refused.',
  },
  VEIL_E_QUEUE_UNAVAILABLE: {
    http: 503,
    dimse: 0xa700,
    summary: 'Redis (the job queue) is unreachable; new instances are refused, not acknowledged.',
  },
  VEIL_E_BUSY: {
    http: 503,
    dimse: 0xa700,
    summary: 'The gateway is at its limit of concurrent requests; try again shortly.',
  },
  VEIL_E_AUTH_MISSING: {
    http: 401,
    dimse: 0xc000,
    summary: 'The request carries no bearer token.',
  },
  VEIL_E_AUTH_INVALID: {
    http: 401,
    dimse: 0xc000,
    summary: 'The bearer token is unknown or malformed.',
  },
  VEIL_E_AUTH_EXPIRED: {
    http: 401,
    dimse: 0xc000,
    summary: 'The bearer token is known but past its expiry time.',
  },
  VEIL_E_AUTH_FORBIDDEN: {
    http: 403,
    dimse: 0xc000,
    summary: "The token's role may not use this route.",
  },
  VEIL_E_DIMSE_AE_REJECTED: {
    http: 403,
    dimse: 0xc000,
    summary: 'The calling AE title or peer address is not allowed.',
  },
  VEIL_E_DIMSE_PEER_UNAVAILABLE: {
    http: 502,
    dimse: 0xa702,
    summary:
      'A DICOM peer (C-MOVE destination, C-GET requester) refused, aborted or dropped the association.',
  },
  VEIL_E_MOVE_DESTINATION_UNKNOWN: {
    http: 400,
    dimse: 0xa801,
    summary:
      'The C-MOVE destination AE (or the AE asking for storage commitment) is not configured.',
  },
  VEIL_E_COMMITMENT_INVALID: {
    http: 400,
    dimse: 0xc000,
    summary:
      'A storage commitment request (N-ACTION) is malformed: no Transaction UID, no or invalid referenced instances.',
  },
  VEIL_E_HTTP_BAD_REQUEST: {
    http: 400,
    dimse: 0xc000,
    summary: 'The HTTP request is malformed (multipart body, parameters, frame list).',
  },
  VEIL_E_HTTP_UNSUPPORTED_MEDIA: {
    http: 415,
    dimse: 0xc000,
    summary: "The request's content type is not one Veil accepts.",
  },
  VEIL_E_HTTP_NOT_ACCEPTABLE: {
    http: 406,
    dimse: 0xc000,
    summary: 'None of the media types in Accept can be produced.',
  },
  VEIL_E_HTTP_TOO_LARGE: {
    http: 413,
    dimse: 0xa700,
    summary: 'The request body exceeds http.maxUploadBytes.',
  },
  VEIL_E_NOT_FOUND: {
    http: 404,
    dimse: 0xc000,
    summary: 'No such study, series, instance or frame in the index.',
  },
  VEIL_E_UID_INVALID: {
    http: 400,
    dimse: 0xc000,
    summary: 'A UID in the request is not a valid DICOM UID.',
  },
  VEIL_E_QUERY_INVALID: {
    http: 400,
    dimse: 0xa900,
    summary:
      'A query key has a value its matching type does not allow (date range, number, limit).',
  },
  VEIL_E_JOB_NOT_FAILED: {
    http: 409,
    dimse: 0xc000,
    summary: 'Only a failed job can be retried; this one is waiting, active or completed.',
  },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The one expected-failure type. `message` is for people and never carries patient data or keys. */
export class VeilError extends Error {
  override readonly name = 'VeilError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get dimseStatus(): number {
    return ERROR_CODES[this.code].dimse;
  }

  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `err` is a VeilError, optionally with the given code. */
export function isVeilError(err: unknown, code?: ErrorCode): err is VeilError {
  return err instanceof VeilError && (code === undefined || err.code === code);
}
