/** Options and reports of protect() and reveal(): plain data, built by the entry points from config. */
import type { CmsSharedKey, KeyTransport, PrivateKey, RecipientKey } from '../crypto';
import type { StegoReport, TooSmallPolicy } from '../stego';
import type { PixelMode, RecordRecipient } from './record';

/** What to do with compressed (encapsulated) pixel data. */
export type CompressedPolicy = 'encrypt' | 'decode' | 'reject';

/** A data key shared by a series or study: unwrapped once, wrapped once for all its instances. */
export interface SharedDataKey {
  key: Buffer;
  recipients: RecordRecipient[];
  /** Content key of the Encrypted Attributes envelopes of the same series or study. */
  cms?: CmsSharedKey;
}

export interface ProtectOptions {
  /** Recipients of the data key (current key plus any break-glass recipients). At least one. */
  recipients: RecipientKey[];
  /** Use this data key instead of a fresh random one (dataKeyScope series/study). */
  dataKey?: SharedDataKey;
  /** Or ask for one once the instance's UIDs are known (the caller caches per series or study). */
  dataKeyFor?: (uids: {
    studyInstanceUID?: string;
    seriesInstanceUID?: string;
  }) => SharedDataKey | undefined;
  /** PS3.15 attribute confidentiality: pseudonymise / remove identifying attributes. Default on. */
  headerConfidentiality: boolean;
  /** HMAC key for pseudonyms; required when headerConfidentiality is on. */
  pseudonymKey?: Buffer;
  /** Key transport of the CMS Encrypted Attributes (PKCS#1 v1.5 is the one PS3.15 names). */
  cmsKeyTransport?: KeyTransport;
  stego: {
    enabled: boolean;
    /** DICOM keywords whose values are hidden in the pixels. */
    fields: readonly string[];
    whenTooSmall: TooSmallPolicy;
  };
  compressed: {
    default: CompressedPolicy;
    byTransferSyntax?: Readonly<Record<string, CompressedPolicy>>;
  };
}

export interface ProtectReport {
  sopClassUID: string;
  formatVersion: number;
  originalTransferSyntaxUID: string;
  pixelMode: PixelMode;
  pixelBytes: number;
  keyIds: string[];
  /** The record's header MAC (base64): identifies this protected object (replay detection). */
  protectionMac: string;
  stego: StegoReport;
  header: {
    profile: 'basic-retain-uids' | 'none';
    replaced: number;
    emptied: number;
    removed: number;
  };
}

export interface RevealOptions {
  /** Private keys that may unwrap (current, recipient and retired keys). */
  privateKeys: PrivateKey[];
  /** Unwrapped data keys by SHA-256 of their wrapped form (hex): bounded, in memory, per worker. */
  keyCache?: Map<string, Buffer>;
}

export interface RevealReport {
  /** 'veil': a Veil-protected object; 'attributes-only': PS3.15 Encrypted Attributes alone (e.g. gdcmanon). */
  kind: 'veil' | 'attributes-only';
  keyId?: string;
  /** The verified header MAC (base64) of a Veil object: which protected object was revealed. */
  protectionMac?: string;
  pixelMode: PixelMode | 'clear';
  stego: {
    outcome: 'full' | 'minimal' | 'skipped' | 'none';
    verified: boolean;
    fieldsChecked: number;
  };
  header: { reidentified: boolean; restored: number };
}
