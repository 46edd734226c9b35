/**
 * Builds the archive backend that `archive.kind` names, from the validated configuration.
 * The only place that reads archive settings (and the DICOMweb password file).
 */
import { readFile } from 'node:fs/promises';
import type { VeilConfig } from '../config';
import { VeilError } from '../errors';
import type { Logger } from '../log';
import type { Archive } from './archive';
import { DicomWebArchive } from './dicomweb-archive';
import { FilesystemArchive } from './filesystem-archive';

/** The configured Archive; VEIL_E_CONFIG_INVALID when its settings are incomplete. */
export async function createArchive(config: VeilConfig, log: Logger): Promise<Archive> {
  const settings = config.archive;
  switch (settings.kind) {
    case 'filesystem': {
      log.info({ archive: 'filesystem', dir: settings.filesystem.dir }, 'archive: filesystem');
      return new FilesystemArchive(settings.filesystem.dir);
    }
    case 'dicomweb': {
      const { url, username, passwordFile } = settings.dicomweb;
      if (url === '') {
        throw new VeilError('VEIL_E_CONFIG_INVALID', 'archive.dicomweb.url is empty.', {
          key: 'archive.dicomweb.url',
        });
      }
      let password: string | undefined;
      if (passwordFile !== '') {
        try {
          password = (await readFile(passwordFile, 'utf8')).replace(/\r?\n$/, '');
        } catch (err) {
          throw new VeilError(
            'VEIL_E_CONFIG_INVALID',
            'archive.dicomweb.passwordFile cannot be read.',
            { key: 'archive.dicomweb.passwordFile' },
            { cause: err },
          );
        }
      }
      log.info({ archive: 'dicomweb', url }, 'archive: DICOMweb');
      return new DicomWebArchive({ url, username: username || undefined, password });
    }
    case 'dimse': {
      const { aeTitle, host, port, callingAeTitle, retrieve } = settings.dimse;
      log.info({ archive: 'dimse', aeTitle, host, port, retrieve }, 'archive: DIMSE');
      // Loaded only when configured: dcmjs-dimse is a third of a worker child's start-up time.
      const { DimseArchive } = await import('./dimse-archive');
      return new DimseArchive({ aeTitle, host, port, callingAeTitle, retrieve });
    }
  }
}
