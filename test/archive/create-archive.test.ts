import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createArchive } from '../../src/archive/create-archive';
import { DicomWebArchive } from '../../src/archive/dicomweb-archive';
import { DimseArchive } from '../../src/archive/dimse-archive';
import { FilesystemArchive } from '../../src/archive/filesystem-archive';
import { loadConfig } from '../../src/config';
import { isVeilError } from '../../src/errors';
import { silentLogger } from '../../src/log';
import { tempDir } from '../helpers/tools';

describe('archive/create-archive', () => {
  let temp: ReturnType<typeof tempDir>;
  before(() => {
    temp = tempDir('veil-create-archive-');
  });
  after(() => temp.cleanup());

  const config = (env: Record<string, string>) =>
    loadConfig({ env, configDir: temp.dir, nodeEnv: 'test' });

  it('builds the filesystem archive by default, in archive.filesystem.dir', async () => {
    const dir = path.join(temp.dir, 'fs');
    const archive = await createArchive(
      config({ VEIL_ARCHIVE__FILESYSTEM__DIR: dir }),
      silentLogger,
    );
    assert.ok(archive instanceof FilesystemArchive);
    assert.equal(archive.dir, dir);
    assert.deepEqual(await archive.health(), { ok: true });
  });

  it('builds the DICOMweb archive with credentials from the password file', async () => {
    const passwordFile = path.join(temp.dir, 'password');
    writeFileSync(passwordFile, 'secret\n');
    const archive = await createArchive(
      config({
        VEIL_ARCHIVE__KIND: 'dicomweb',
        VEIL_ARCHIVE__DICOMWEB__URL: 'http://127.0.0.1:8042/dicom-web',
        VEIL_ARCHIVE__DICOMWEB__USERNAME: 'veil',
        VEIL_ARCHIVE__DICOMWEB__PASSWORD_FILE: passwordFile,
      }),
      silentLogger,
    );
    assert.ok(archive instanceof DicomWebArchive);
    assert.equal(archive.kind, 'dicomweb');
  });

  it('builds the DIMSE archive', async () => {
    const archive = await createArchive(
      config({ VEIL_ARCHIVE__KIND: 'dimse', VEIL_ARCHIVE__DIMSE__PORT: '4242' }),
      silentLogger,
    );
    assert.ok(archive instanceof DimseArchive);
  });

  it('rejects a DICOMweb archive without url or with an unreadable password file', async () => {
    const invalid = (e: unknown) => isVeilError(e, 'VEIL_E_CONFIG_INVALID');
    await assert.rejects(
      createArchive(config({ VEIL_ARCHIVE__KIND: 'dicomweb' }), silentLogger),
      invalid,
    );
    await assert.rejects(
      createArchive(
        config({
          VEIL_ARCHIVE__KIND: 'dicomweb',
          VEIL_ARCHIVE__DICOMWEB__URL: 'http://127.0.0.1:8042/dicom-web',
          VEIL_ARCHIVE__DICOMWEB__PASSWORD_FILE: path.join(temp.dir, 'missing'),
        }),
        silentLogger,
      ),
      invalid,
    );
  });
});
