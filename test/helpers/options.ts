/** Protect / reveal options for tests, from test keys and the default policy. */
import type { ProtectOptions, RevealOptions } from '../../src/protection';
import type { TestKey } from './keys';

export const PSEUDONYM_KEY = Buffer.alloc(32, 7);

export const DEFAULT_FIELDS = [
  'PatientID',
  'PatientName',
  'PatientBirthDate',
  'AccessionNumber',
  'StudyInstanceUID',
  'SOPInstanceUID',
];

/** Default protect options for the given recipients; override any field. */
export function protectOptions(
  recipients: TestKey[],
  overrides: Partial<ProtectOptions> = {},
): ProtectOptions {
  return {
    recipients: recipients.map((k) => k.recipient),
    headerConfidentiality: true,
    pseudonymKey: PSEUDONYM_KEY,
    cmsKeyTransport: 'rsa-pkcs1v15',
    stego: { enabled: true, fields: DEFAULT_FIELDS, whenTooSmall: 'minimal' },
    compressed: { default: 'encrypt', byTransferSyntax: { '1.2.840.10008.1.2.5': 'decode' } },
    ...overrides,
  };
}

export function revealOptions(keys: TestKey[], keyCache?: Map<string, Buffer>): RevealOptions {
  return { privateKeys: keys.map((k) => k.privateKey), ...(keyCache ? { keyCache } : {}) };
}
