/** Asserting on Veil's stable error codes. */
import { isVeilError } from '../../src/errors';

/** The VeilError code `fn` throws, 'not a VeilError' for anything else, undefined when it returns. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isVeilError(err) ? err.code : 'not a VeilError';
  }
  return undefined;
}
