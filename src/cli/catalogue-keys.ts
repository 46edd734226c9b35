/**
 * What the key commands ask the gateway's catalogue: which archived instances still need a key
 * (wrapped for it and for no other key whose private key the store holds), whatever the archive
 * kind (filesystem, DICOMweb, DIMSE): the protect processor and `veil rewrap` record the key ids.
 */
import { existsSync } from 'node:fs';
import type { VeilConfig } from '../config';
import type { ArchivedProtection } from '../index/catalogue';
import { SqliteCatalogue } from '../index/sqlite-catalogue';
import type { KeyInfo } from '../keys/file-key-store';

/** The answer of instancesNeeding. */
export interface KeyNeed {
  /** Archived instances only `keyId` (among the held keys) opens. */
  needing: ArchivedProtection[];
  /** Archived instances catalogued before key ids were recorded: they may need it. */
  unknown: ArchivedProtection[];
}

/** Opens the configured catalogue if it exists (never creates one); undefined otherwise. */
export function openExistingCatalogue(config: VeilConfig): SqliteCatalogue | undefined {
  return existsSync(config.index.file) ? SqliteCatalogue.open(config.index.file) : undefined;
}

/** Archived instances that removing `keyId` would make unrevealable, and those that cannot tell. */
export function instancesNeeding(
  catalogue: SqliteCatalogue,
  keys: readonly KeyInfo[],
  keyId: string,
): KeyNeed {
  const held = new Set(
    keys.filter((k) => k.hasPrivateKey && k.keyId !== keyId).map((k) => k.keyId),
  );
  const needing = catalogue
    .archivedProtections(keyId)
    .filter((p) => !p.keyIds.some((k) => held.has(k)));
  const unknown = catalogue.archivedProtections().filter((p) => p.keyIds.length === 0);
  return { needing, unknown };
}

/** One line per instance: Study, Series and SOP Instance UIDs (UIDs only, never patient data). */
export function formatInstance(p: ArchivedProtection): string {
  return `${p.studyInstanceUID} ${p.seriesInstanceUID} ${p.sopInstanceUID}`;
}
