/**
 * `veil rewrap DIR` pointed at the gateway's filesystem archive folder rewrites archived objects
 * behind the catalogue's back; without this, replay detection would refuse every one of them
 * (VEIL_E_REVEAL_STALE). Files that are an instance's archived object move its expectation along.
 */
import path from 'node:path';
import { FilesystemArchive } from '../archive/filesystem-archive';
import type { VeilConfig } from '../config';
import { Tags, parsePart10 } from '../dicom';
import { VeilError } from '../errors';
import type { SqliteCatalogue } from '../index/sqlite-catalogue';
import { openExistingCatalogue } from './catalogue-keys';

/** Records the re-wrapped object in the catalogue once it is written. */
export type AfterWrite = (keyIds: string[], bytes: number) => void;

/** Catalogue bookkeeping for files of the filesystem archive rewritten by `veil rewrap`. */
export class ArchiveFileSync {
  private constructor(
    private readonly archive: FilesystemArchive,
    private readonly catalogue: SqliteCatalogue,
  ) {}

  /** For a gateway with a filesystem archive and an existing catalogue; else undefined. */
  static open(config: VeilConfig): ArchiveFileSync | undefined {
    if (config.archive.kind !== 'filesystem') return undefined;
    const catalogue = openExistingCatalogue(config);
    if (catalogue === undefined) return undefined;
    return new ArchiveFileSync(new FilesystemArchive(config.archive.filesystem.dir), catalogue);
  }

  /**
   * Called before `file` is replaced by the re-wrapped `bytes`. When `file` is the archived object
   * of its instance: refuses (VEIL_E_REVEAL_STALE) an object that is not the one the catalogue
   * expects, marks the new MAC pending (reveals meanwhile accept both) and returns the step that
   * records it after the write. Other files (exports, copies elsewhere): undefined.
   */
  before(file: string, bytes: Buffer, fromMac: string, toMac: string): AfterWrite | undefined {
    const ds = parsePart10(bytes, { stopAtPixelData: true }).dataset;
    const ref = {
      studyInstanceUID: ds.string(Tags.StudyInstanceUID) ?? '',
      seriesInstanceUID: ds.string(Tags.SeriesInstanceUID) ?? '',
      sopInstanceUID: ds.string(Tags.SOPInstanceUID) ?? '',
    };
    let archived: string;
    try {
      archived = this.archive.pathOf(ref);
    } catch {
      return undefined;
    }
    if (path.resolve(file) !== path.resolve(archived)) return undefined;
    const row = this.catalogue.get(ref.sopInstanceUID);
    if (row === undefined || row.state !== 'archived') return undefined;
    if (row.protectionMac !== undefined && row.protectionMac !== fromMac) {
      throw new VeilError(
        'VEIL_E_REVEAL_STALE',
        'The archived object is not the version Veil archived last; it was not re-wrapped.',
      );
    }
    this.catalogue.setPending(ref.sopInstanceUID, toMac);
    return (keyIds, size) => {
      const update = { previousMac: toMac, protectionMac: toMac, keyIds, bytes: size };
      if (!this.catalogue.setProtection(ref.sopInstanceUID, update)) {
        throw new VeilError(
          'VEIL_E_REVEAL_STALE',
          'The instance was archived again while it was re-wrapped; re-send it or run rewrap again.',
        );
      }
    };
  }

  close(): void {
    this.catalogue.close();
  }
}
