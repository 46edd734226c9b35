/**
 * The one pino logger. Patient data, key material and pixel bytes never reach a log line:
 * known sensitive field names are redacted as a second line of defence.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'patientName',
  'patientId',
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'AccessionNumber',
  'key',
  'privateKey',
  'dataKey',
  'secret',
  'password',
  'token',
  'authorization',
  '*.patientName',
  '*.patientId',
  '*.PatientName',
  '*.PatientID',
  '*.privateKey',
  '*.dataKey',
  '*.secret',
  '*.token',
  'req.headers.authorization',
];

/** Creates the process logger; `level` defaults to LOG_LEVEL or 'info'. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'veil',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
  });
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
