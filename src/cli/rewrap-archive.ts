/**
 * `veil rewrap --archive`: key rotation of the gateway's archive, whatever its kind. Each archived
 * instance the catalogue does not show wrapped for exactly the current recipients is read from the
 * archive, re-wrapped (verified first) and written back, and the catalogue's expectation (header
 * MAC, key ids) moves with it, so replay detection keeps accepting it and nothing else.
 */
import type { Archive } from '../archive/archive';
import type { VeilConfig } from '../config';
import { VeilError, isVeilError } from '../errors';
import type { ArchivedProtection } from '../index/catalogue';
import type { SqliteCatalogue } from '../index/sqlite-catalogue';
import { type RewrapOptions, rewrap } from '../protection';

/** What happened to one archived instance. */
export interface ArchiveRewrapOutcome {
  instance: Omit<ArchivedProtection, 'keyIds' | 'protectionMac'>;
  ok: boolean;
  fromKeyIds?: string[];
  toKeyIds?: string[];
  error?: VeilError;
}

/** Totals of a run. */
export interface ArchiveRewrapSummary {
  done: number;
  failed: number;
  /** Already wrapped for exactly the current recipients (left as they are). */
  current: number;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k) => b.includes(k));
}

/**
 * Re-wraps every archived instance not yet wrapped for exactly `options.recipients`, one at a
 * time, reporting each through `onOutcome`. An object that is not the one the catalogue expects
 * (replayed, replaced) is refused with VEIL_E_REVEAL_STALE and left untouched.
 */
export async function rewrapArchive(
  archive: Archive,
  catalogue: SqliteCatalogue,
  options: RewrapOptions,
  onOutcome: (outcome: ArchiveRewrapOutcome) => void,
): Promise<ArchiveRewrapSummary> {
  const target = options.recipients.map((r) => r.keyId);
  const summary: ArchiveRewrapSummary = { done: 0, failed: 0, current: 0 };
  for (const entry of catalogue.archivedProtections()) {
    const { keyIds, protectionMac, ...instance } = entry;
    if (protectionMac !== undefined && sameSet(keyIds, target)) {
      summary.current++;
      continue;
    }
    try {
      const { bytes, report } = rewrap(await archive.get(instance), options);
      if (protectionMac !== undefined && report.fromMac !== protectionMac) {
        throw new VeilError(
          'VEIL_E_REVEAL_STALE',
          'The archived object is not the version Veil archived last; it was not re-wrapped.',
        );
      }
      // Reveals during the put accept the new object; the compare-and-set below then fails if a
      // re-sent copy was archived meanwhile (its upsert clears our pending MAC).
      catalogue.setPending(instance.sopInstanceUID, report.toMac);
      await archive.put(instance, bytes);
      const recorded = catalogue.setProtection(instance.sopInstanceUID, {
        previousMac: report.toMac,
        protectionMac: report.toMac,
        keyIds: report.toKeyIds,
        bytes: bytes.length,
      });
      if (!recorded) {
        throw new VeilError(
          'VEIL_E_REVEAL_STALE',
          'The instance was archived again while it was re-wrapped; re-send it or run rewrap again.',
        );
      }
      summary.done++;
      onOutcome({ instance, ok: true, fromKeyIds: report.fromKeyIds, toKeyIds: report.toKeyIds });
    } catch (err) {
      if (!isVeilError(err)) throw err;
      summary.failed++;
      onOutcome({ instance, ok: false, error: err });
    }
  }
  return summary;
}

/** The catalogue of a gateway for `veil rewrap --archive`: it must exist. */
export function requireCatalogue(
  config: VeilConfig,
  open: (config: VeilConfig) => SqliteCatalogue | undefined,
): SqliteCatalogue {
  const catalogue = open(config);
  if (catalogue === undefined) {
    throw new VeilError(
      'VEIL_E_USAGE',
      `No gateway catalogue at ${config.index.file}: give --data-dir or --config of the gateway.`,
    );
  }
  return catalogue;
}
