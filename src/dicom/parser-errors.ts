/**
 * Errors of the DICOM readers: dicom-parser throws strings, Errors and wrapper objects; Veil
 * turns each into a VeilError with a stable code and a message free of value bytes.
 */
import { VeilError } from '../errors';

/** A VEIL_E_DICOM_MALFORMED error. */
export function malformed(message: string, details: Record<string, unknown> = {}): VeilError {
  return new VeilError('VEIL_E_DICOM_MALFORMED', message, details);
}

/** A VEIL_E_DICOM_TRUNCATED error. */
export function truncated(message: string, details: Record<string, unknown> = {}): VeilError {
  return new VeilError('VEIL_E_DICOM_TRUNCATED', message, details);
}

/**
 * Translates what dicom-parser throws (strings, Errors, {exception, dataSet} wrappers, stack
 * overflows on absurd nesting) into a VeilError. Its messages name tags and offsets only.
 */
export function translateParserError(err: unknown): VeilError {
  if (err instanceof VeilError) return err;
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return malformed('DICOM sequences are nested too deeply to parse');
  }
  const inner =
    typeof err === 'object' && err !== null && 'exception' in err
      ? (err as { exception: unknown }).exception
      : err;
  const text = (
    typeof inner === 'string' ? inner : inner instanceof Error ? inner.message : 'unknown error'
  ).slice(0, 200);
  if (/past end|overread|overrun|maxP ?osition|eof|greater than or equal/i.test(text)) {
    return truncated(`DICOM input ends early (${text})`);
  }
  return malformed(`DICOM input is malformed (${text})`);
}
