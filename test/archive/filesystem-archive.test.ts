import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FilesystemArchive } from '../../src/archive/filesystem-archive';
import { isVeilError } from '../../src/errors';
import { tempDir } from '../helpers/tools';
import { archiveContract } from './contract';
import { protectedSamples } from './fixtures';

describe('archive/filesystem-archive', () => {
  let temp: ReturnType<typeof tempDir>;
  let archive: FilesystemArchive;
  before(() => {
    temp = tempDir('veil-archive-');
    archive = new FilesystemArchive(path.join(temp.dir, 'archive'));
  });
  after(async () => {
    await archive.close();
    await archive.close();
    temp.cleanup();
  });

  archiveContract(() => archive, { byteExact: true });

  it('lays files out as <study>/<series>/<sop>.dcm and leaves no temp files', async () => {
    const [s] = await protectedSamples();
    await archive.put(s.ref, s.protected);
    await archive.put(s.ref, s.protected);
    const folder = path.join(archive.dir, s.ref.studyInstanceUID, s.ref.seriesInstanceUID);
    assert.ok(existsSync(path.join(folder, `${s.ref.sopInstanceUID}.dcm`)));
    assert.deepEqual(
      readdirSync(folder).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('removes the temp file a killed writer left of the same object on the next put, nothing else', async () => {
    const [s] = await protectedSamples();
    const folder = path.join(archive.dir, s.ref.studyInstanceUID, s.ref.seriesInstanceUID);
    const sop = s.ref.sopInstanceUID;
    await archive.put(s.ref, s.protected);
    const stale = `${sop}.dcm.0123456789ab.tmp`;
    const others = [`${sop}.dcm.notatemp.tmp`, `${sop}9.dcm.0123456789ab.tmp`, 'unrelated.tmp'];
    for (const name of [stale, ...others]) writeFileSync(path.join(folder, name), 'half');
    await archive.put(s.ref, s.protected);
    const left = readdirSync(folder).filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(left.sort(), [...others].sort());
    assert.ok((await archive.get(s.ref)).equals(s.protected));
  });

  it('never resolves a path outside its folder', async () => {
    const outside = path.join(temp.dir, 'secret.dcm');
    writeFileSync(outside, 'x');
    const [s] = await protectedSamples();
    const ref = {
      ...s.ref,
      studyInstanceUID: '..',
      seriesInstanceUID: '..',
      sopInstanceUID: 'secret',
    };
    assert.throws(
      () => archive.pathOf(ref),
      (e: unknown) => isVeilError(e, 'VEIL_E_UID_INVALID'),
    );
    await assert.rejects(archive.get(ref), (e: unknown) => isVeilError(e, 'VEIL_E_UID_INVALID'));
  });

  it('reports VEIL_E_ARCHIVE_UNAVAILABLE and an unhealthy state when the folder is not writable', async function () {
    if (process.getuid?.() === 0) {
      // root ignores permissions: make the archive path a file instead of a folder.
      const file = path.join(temp.dir, 'a-file');
      writeFileSync(file, 'x');
      const blocked = new FilesystemArchive(path.join(file, 'archive'));
      await checkUnavailable(blocked);
      return;
    }
    const dir = path.join(temp.dir, 'readonly');
    const blocked = new FilesystemArchive(dir);
    await blocked.health();
    chmodSync(dir, 0o500);
    try {
      await checkUnavailable(blocked);
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  async function checkUnavailable(blocked: FilesystemArchive): Promise<void> {
    const [s] = await protectedSamples();
    const health = await blocked.health();
    assert.equal(health.ok, false);
    assert.match(health.detail ?? '', /not writable/);
    await assert.rejects(blocked.put(s.ref, s.protected), (e: unknown) =>
      isVeilError(e, 'VEIL_E_ARCHIVE_UNAVAILABLE'),
    );
  }
});
