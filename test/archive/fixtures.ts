/** Protected samples for the archive tests: originals, protected bytes and their InstanceRefs. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { InstanceRef } from '../../src/archive/archive';
import { Tags, parsePart10 } from '../../src/dicom';
import { protect, reveal } from '../../src/protection';
import { testKey } from '../helpers/keys';
import { protectOptions, revealOptions } from '../helpers/options';

export interface ProtectedSample {
  name: string;
  original: Buffer;
  protected: Buffer;
  ref: InstanceRef;
}

const SAMPLES = ['ct-slice.dcm', 'mono8.dcm', 'us-rgb-multiframe.dcm'];

/** The InstanceRef of a Part 10 object, read from its data set. */
export function refOf(bytes: Buffer): InstanceRef {
  const { dataset } = parsePart10(bytes);
  const get = (tag: number) => {
    const v = dataset.string(tag);
    if (v === undefined) throw new Error('sample lacks a UID');
    return v;
  };
  return {
    studyInstanceUID: get(Tags.StudyInstanceUID),
    seriesInstanceUID: get(Tags.SeriesInstanceUID),
    sopInstanceUID: get(Tags.SOPInstanceUID),
  };
}

/** Protects the samples with the 'archive' test key (same objects within one run). */
export async function protectedSamples(): Promise<ProtectedSample[]> {
  const key = await testKey('archive');
  return SAMPLES.map((name) => {
    const original = readFileSync(path.join(__dirname, '../../samples', name));
    const bytes = protect(original, protectOptions([key])).bytes;
    return { name, original, protected: bytes, ref: refOf(bytes) };
  });
}

/** Protects an original again: same instance, different bytes (fresh nonce and key). */
export async function protectAgain(original: Buffer): Promise<Buffer> {
  return protect(original, protectOptions([await testKey('archive')])).bytes;
}

/** Reveals archived bytes with the test key. */
export async function revealBytes(bytes: Buffer): Promise<Buffer> {
  return reveal(bytes, revealOptions([await testKey('archive')])).bytes;
}

/** The Patient Name of an original, as stored bytes, to look for in what an archive holds. */
export function patientNameOf(original: Buffer): string {
  return parsePart10(original).dataset.string(Tags.PatientName) ?? '';
}
