/** Benchmark instances: a CT slice, a 2048x2048 DX and a ~500 MB multi-frame, written to a temp folder. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataSet, Tags, textElement, usElement, writePart10 } from '../src/dicom';

export interface BenchInstance {
  name: string;
  file: string;
  bytes: number;
}

function smoothPixels(rows: number, columns: number, frames: number): Buffer {
  // A smooth 12-bit phantom with mild noise, repeated per frame with a drift: realistic, cheap to make.
  const frame = Buffer.alloc(rows * columns * 2);
  let seed = 12345;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const dx = x - columns / 2;
      const dy = y - rows / 2;
      const inside = dx * dx + dy * dy < (rows * rows) / 6 ? 1200 : 200;
      frame.writeUInt16LE(
        (inside + ((x + y) & 255) + (seed >>> 28)) & 0xfff,
        (y * columns + x) * 2,
      );
    }
  }
  const all = Buffer.allocUnsafe(frame.length * frames);
  for (let f = 0; f < frames; f++) frame.copy(all, f * frame.length);
  return all;
}

function instance(
  name: string,
  rows: number,
  columns: number,
  frames: number,
  sopClass: string,
): Buffer {
  const sop = `2.25.99${rows}${columns}${frames}`;
  const meta = new DataSet()
    .set({ tag: 0x00020001, vr: 'OB', value: Buffer.from([0, 1]) })
    .set(textElement(Tags.MediaStorageSOPClassUID, 'UI', sopClass))
    .set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', sop))
    .set(textElement(Tags.TransferSyntaxUID, 'UI', '1.2.840.10008.1.2.1'))
    .set(textElement(Tags.ImplementationClassUID, 'UI', '2.25.1234'));
  const ds = new DataSet()
    .set(textElement(Tags.SOPClassUID, 'UI', sopClass))
    .set(textElement(Tags.SOPInstanceUID, 'UI', sop))
    .set(textElement(Tags.PatientName, 'PN', 'BENCH^PATIENT'))
    .set(textElement(Tags.PatientID, 'LO', 'BENCH-0001'))
    .set(textElement(Tags.StudyInstanceUID, 'UI', '2.25.9911'))
    .set(textElement(Tags.SeriesInstanceUID, 'UI', '2.25.9922'))
    .set(usElement(Tags.SamplesPerPixel, 1))
    .set(textElement(Tags.PhotometricInterpretation, 'CS', 'MONOCHROME2'))
    .set(usElement(Tags.Rows, rows))
    .set(usElement(Tags.Columns, columns))
    .set(usElement(Tags.BitsAllocated, 16))
    .set(usElement(Tags.BitsStored, 12))
    .set(usElement(Tags.HighBit, 11))
    .set(usElement(Tags.PixelRepresentation, 0))
    .set({ tag: Tags.PixelData, vr: 'OW', value: smoothPixels(rows, columns, frames) });
  if (frames > 1) ds.set(textElement(Tags.NumberOfFrames, 'IS', String(frames)));
  return Buffer.concat(writePart10(meta, ds));
}

/** Writes the benchmark instances into `dir` (skip the large one with `large: false`). */
export function writeBenchInstances(dir: string, options: { large: boolean }): BenchInstance[] {
  const specs: [string, number, number, number, string][] = [
    ['CT slice 512x512x16', 512, 512, 1, '1.2.840.10008.5.1.4.1.1.2'],
    ['DX 2048x2048x16', 2048, 2048, 1, '1.2.840.10008.5.1.4.1.1.1.1'],
  ];
  if (options.large)
    specs.push([
      'multi-frame 512x512x16 x1000 (~500 MB)',
      512,
      512,
      1000,
      '1.2.840.10008.5.1.4.1.1.7.3',
    ]);
  return specs.map(([name, rows, columns, frames, sopClass], i) => {
    const bytes = instance(name, rows, columns, frames, sopClass);
    const file = path.join(dir, `bench-${i}.dcm`);
    writeFileSync(file, bytes);
    return { name, file, bytes: bytes.length };
  });
}
