/** Exit codes of `veil`, stable for scripts (documented in docs/cli.md). */
export const ExitCode = {
  /** Everything asked was done. */
  Ok: 0,
  /** At least one input failed (each failure printed with its error code). */
  SomeFailed: 1,
  /** Wrong command line. */
  Usage: 2,
  /** Configuration or key store unusable: nothing was processed. */
  Setup: 3,
  /** A bug: an unexpected error (printed with its stack). */
  Internal: 70,
} as const;
