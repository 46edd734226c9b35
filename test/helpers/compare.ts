/** Asserts that a revealed instance equals the original element for element and pixel for pixel. */
import assert from 'node:assert/strict';
import { Tags, diffDataSets, parsePart10 } from '../../src/dicom';

/** Group 0002 elements the writer sets itself. */
const WRITER_META = new Set<number>([Tags.FileMetaInformationGroupLength, Tags.TransferSyntaxUID]);
/** Type 1 meta elements (PS3.10 7.1) the writer fills in when the input lacked them. */
const FILLED_WHEN_ABSENT = new Set<number>([
  0x00020001, 0x00020002, 0x00020003, 0x00020012, 0x00020013,
]);

/** Original and revealed must agree in every element (pixels included), meta as the writer allows. */
export function assertSameInstance(original: Buffer, revealed: Buffer): void {
  const a = parsePart10(original);
  const b = parsePart10(revealed);
  assert.deepEqual(diffDataSets(a.dataset, b.dataset), [], 'data set differs');
  const ignore = (t: number) => WRITER_META.has(t) || (FILLED_WHEN_ABSENT.has(t) && !a.meta.has(t));
  assert.deepEqual(diffDataSets(a.meta, b.meta, { ignore }), [], 'file meta differs');
  const pa = a.dataset.get(Tags.PixelData);
  const pb = b.dataset.get(Tags.PixelData);
  if (pa?.value) assert.ok(pb?.value?.equals(pa.value), 'pixel data differs');
}
