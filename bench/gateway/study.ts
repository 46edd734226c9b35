/**
 * The gateway benchmark's study: one patient, one study, a CT series of 512x512 slices and a DX
 * series of a few large radiographs, written once to a folder as Part 10 files.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tags, parsePart10, textElement, writePart10 } from '../../src/dicom';
import { SAMPLE_UID_ROOT, generateCtSeries, generateSample } from '../../samples/generate';

/** The files of the benchmark study, in push order (CT slices first, then the DX). */
export interface BenchStudy {
  studyUID: string;
  /** Every file, CT slices first. */
  files: string[];
  /** Bytes of every file together. */
  bytes: number;
  ctSlices: number;
  dxCount: number;
}

/** Options of writeBenchStudy. */
export interface BenchStudyOptions {
  /** CT slices of 512x512 (default 200). */
  slices?: number;
  /** Large DX instances (default 4). */
  dx?: number;
  /** DX rows and columns (default 3000 x 2500, ~15 MB each). */
  dxRows?: number;
  dxColumns?: number;
}

const SEED = 4242;

/** Writes the study into `dir` and lists its files. */
export function writeBenchStudy(dir: string, options: BenchStudyOptions = {}): BenchStudy {
  const slices = options.slices ?? 200;
  const dxCount = options.dx ?? 4;
  const patient = { name: 'BENCH^GATEWAY', id: 'VEIL-BENCH-0001', birthDate: '19700101' };
  const files: string[] = [];
  let bytes = 0;
  const write = (name: string, data: Buffer) => {
    const file = path.join(dir, name);
    writeFileSync(file, data);
    files.push(file);
    bytes += data.length;
  };
  const ct = generateCtSeries({ slices, rows: 512, columns: 512, seed: SEED, patient });
  const first = parsePart10(ct[0]!, { stopAtPixelData: true }).dataset;
  const studyUID = first.string(Tags.StudyInstanceUID)!;
  const accession = first.string(Tags.AccessionNumber) ?? '';
  ct.forEach((data, i) => write(`ct-${String(i + 1).padStart(4, '0')}.dcm`, data));
  for (let i = 0; i < dxCount; i++) {
    // generateSample gives each seed its own study; move the DX into the CT's study with its own
    // series and instance UIDs, so the benchmark retrieves one study of two series.
    const parsed = parsePart10(
      generateSample('dx-12bit', {
        rows: options.dxRows ?? 3000,
        columns: options.dxColumns ?? 2500,
        seed: SEED + 1 + i,
        patient,
      }),
    );
    const sop = `${SAMPLE_UID_ROOT}.9.${SEED}.${i + 1}`;
    parsed.dataset
      .set(textElement(Tags.StudyInstanceUID, 'UI', studyUID))
      .set(textElement(Tags.SeriesInstanceUID, 'UI', `${SAMPLE_UID_ROOT}.8.${SEED}.2`))
      .set(textElement(Tags.SOPInstanceUID, 'UI', sop))
      .set(textElement(Tags.AccessionNumber, 'SH', accession))
      .set(textElement(Tags.StudyID, 'SH', String(SEED)))
      // Series Number (0020,0011).
      .set(textElement(0x00200011, 'IS', '2'))
      .set(textElement(Tags.InstanceNumber, 'IS', String(i + 1)));
    parsed.meta.set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', sop));
    write(`dx-${i + 1}.dcm`, Buffer.concat(writePart10(parsed.meta, parsed.dataset)));
  }
  return { studyUID, files, bytes, ctSlices: slices, dxCount };
}
