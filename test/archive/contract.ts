/** The behaviour every Archive backend shares, run by each backend's test file against the real thing. */
import assert from 'node:assert/strict';
import type { Archive, InstanceRef } from '../../src/archive/archive';
import { diffDataSets, parsePart10 } from '../../src/dicom';
import { isVeilError } from '../../src/errors';
import { assertSameInstance } from '../helpers/compare';
import { type ProtectedSample, protectAgain, protectedSamples, revealBytes } from './fixtures';

export interface ContractOptions {
  /** The archive returns exactly the bytes it was given (false: same data set, meta may differ). */
  byteExact: boolean;
}

/** Part 10 meta elements that name the implementation that wrote the file: DIMSE carries no meta,
 *  so an object fetched over DIMSE is rewritten by Veil (PS3.10 7.1). */
const WRITER_IDENTITY = new Set([0x00020012, 0x00020013]);

/** The revealed object equals the original: exactly (assertSameInstance), or up to the writer identity. */
function assertRevealedSame(original: Buffer, revealed: Buffer, byteExact: boolean): void {
  if (byteExact) return assertSameInstance(original, revealed);
  const a = parsePart10(original);
  const b = parsePart10(revealed);
  assert.deepEqual(diffDataSets(a.dataset, b.dataset), [], 'data set differs');
  const ignore = (t: number) => WRITER_IDENTITY.has(t) || t === 0x00020000;
  assert.deepEqual(diffDataSets(a.meta, b.meta, { ignore }), [], 'file meta differs');
}

/** Asserts two Part 10 objects hold the same data set, element for element, private tags included. */
export function assertSameDataSet(expected: Buffer, actual: Buffer): void {
  assert.deepEqual(diffDataSets(parsePart10(expected).dataset, parsePart10(actual).dataset), []);
}

const unknownRef: InstanceRef = {
  studyInstanceUID: '1.2.826.0.1.3680043.8.498.1',
  seriesInstanceUID: '1.2.826.0.1.3680043.8.498.2',
  sopInstanceUID: '1.2.826.0.1.3680043.8.498.3',
};

/** Registers the shared `it`s; `archive()` gives the backend under test (set up in a before hook). */
export function archiveContract(archive: () => Archive, options: ContractOptions): void {
  let samples: ProtectedSample[];
  before(async () => {
    samples = await protectedSamples();
  });

  it('stores protected instances and gives them back revealable to the originals', async () => {
    for (const s of samples) await archive().put(s.ref, s.protected);
    for (const s of samples) {
      const got = await archive().get(s.ref);
      if (options.byteExact) assert.ok(got.equals(s.protected), `${s.name} bytes differ`);
      assertSameDataSet(s.protected, got);
      assertRevealedSame(s.original, await revealBytes(got), options.byteExact);
    }
  });

  it('answers has() for stored and absent instances', async () => {
    const s = samples[0];
    await archive().put(s.ref, s.protected);
    assert.equal(await archive().has(s.ref), true);
    assert.equal(await archive().has(unknownRef), false);
  });

  it('keeps the newest copy when an instance is stored again', async () => {
    const s = samples[1];
    const newer = await protectAgain(s.original);
    assert.ok(!newer.equals(s.protected));
    await archive().put(s.ref, s.protected);
    await archive().put(s.ref, newer);
    const got = await archive().get(s.ref);
    assertSameDataSet(newer, got);
    assertRevealedSame(s.original, await revealBytes(got), options.byteExact);
  });

  it('rejects get of an absent instance with VEIL_E_ARCHIVE_NOT_FOUND', async () => {
    await assert.rejects(archive().get(unknownRef), (e: unknown) =>
      isVeilError(e, 'VEIL_E_ARCHIVE_NOT_FOUND'),
    );
  });

  it('deletes an instance, and deleting an absent one succeeds', async () => {
    const s = samples[2];
    await archive().put(s.ref, s.protected);
    await archive().delete(s.ref);
    assert.equal(await archive().has(s.ref), false);
    await assert.rejects(archive().get(s.ref), (e: unknown) =>
      isVeilError(e, 'VEIL_E_ARCHIVE_NOT_FOUND'),
    );
    await archive().delete(s.ref);
    await archive().delete(unknownRef);
  });

  it('reports itself healthy', async () => {
    assert.deepEqual(await archive().health(), { ok: true });
  });

  it('rejects invalid UIDs with VEIL_E_UID_INVALID before touching the archive', async () => {
    const bad: InstanceRef[] = [
      { ...unknownRef, sopInstanceUID: '../../etc/passwd' },
      { ...unknownRef, seriesInstanceUID: '..' },
      { ...unknownRef, studyInstanceUID: '1.2/3' },
      { ...unknownRef, sopInstanceUID: '' },
      { ...unknownRef, sopInstanceUID: '1.02.3' },
      { ...unknownRef, sopInstanceUID: `1.${'2'.repeat(70)}` },
    ];
    const invalid = (e: unknown) => isVeilError(e, 'VEIL_E_UID_INVALID');
    for (const ref of bad) {
      await assert.rejects(archive().put(ref, samples[0].protected), invalid);
      await assert.rejects(archive().get(ref), invalid);
      await assert.rejects(archive().has(ref), invalid);
      await assert.rejects(archive().delete(ref), invalid);
    }
  });
}
