/** Builds small synthetic Part 10 instances with chosen geometry, for property tests and tamper cases. */
import { randomBytes } from 'node:crypto';
import { DataSet, Tags, textElement, usElement, writePart10 } from '../../src/dicom';

export interface SyntheticOptions {
  rows?: number;
  columns?: number;
  frames?: number;
  samplesPerPixel?: 1 | 3;
  planarConfiguration?: 0 | 1;
  bitsAllocated?: 1 | 8 | 16 | 32;
  bitsStored?: number;
  highBit?: number;
  pixelRepresentation?: 0 | 1;
  sopInstanceUID?: string;
  patientName?: string;
  patientID?: string;
  pixels?: Buffer;
  extra?: (ds: DataSet) => void;
}

let counter = 0;

/** A Secondary Capture instance; pixels random unless given. */
export function syntheticInstance(o: SyntheticOptions = {}): Buffer {
  const rows = o.rows ?? 16;
  const columns = o.columns ?? 16;
  const frames = o.frames ?? 1;
  const spp = o.samplesPerPixel ?? 1;
  const bitsAllocated = o.bitsAllocated ?? 16;
  const bitsStored = o.bitsStored ?? (bitsAllocated === 16 ? 12 : bitsAllocated);
  const highBit = o.highBit ?? bitsStored - 1;
  const sop = o.sopInstanceUID ?? `2.25.${Date.now()}${process.pid}${++counter}`;
  const bytes = Math.ceil((rows * columns * frames * spp * bitsAllocated) / 8);
  const pixels = o.pixels ?? randomBytes(bytes + (bytes & 1));

  const meta = new DataSet()
    .set({ tag: 0x00020001, vr: 'OB', value: Buffer.from([0, 1]) })
    .set(textElement(Tags.MediaStorageSOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.7'))
    .set(textElement(Tags.MediaStorageSOPInstanceUID, 'UI', sop))
    .set(textElement(Tags.TransferSyntaxUID, 'UI', '1.2.840.10008.1.2.1'))
    .set(textElement(Tags.ImplementationClassUID, 'UI', '2.25.1234'));
  const ds = new DataSet()
    .set(textElement(Tags.SOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.7'))
    .set(textElement(Tags.SOPInstanceUID, 'UI', sop))
    .set(textElement(Tags.StudyDate, 'DA', '20240102'))
    .set(textElement(Tags.AccessionNumber, 'SH', 'ACC-SYN-1'))
    .set(textElement(Tags.Modality, 'CS', 'OT'))
    .set(textElement(Tags.PatientName, 'PN', o.patientName ?? 'SYNTHETIC^PATIENT'))
    .set(textElement(Tags.PatientID, 'LO', o.patientID ?? 'SYN-0001'))
    .set(textElement(Tags.PatientBirthDate, 'DA', '19700101'))
    .set(textElement(Tags.StudyInstanceUID, 'UI', '2.25.1111'))
    .set(textElement(Tags.SeriesInstanceUID, 'UI', '2.25.2222'))
    .set(usElement(Tags.SamplesPerPixel, spp))
    .set(textElement(Tags.PhotometricInterpretation, 'CS', spp === 3 ? 'RGB' : 'MONOCHROME2'))
    .set(usElement(Tags.Rows, rows))
    .set(usElement(Tags.Columns, columns))
    .set(usElement(Tags.BitsAllocated, bitsAllocated))
    .set(usElement(Tags.BitsStored, bitsStored))
    .set(usElement(Tags.HighBit, highBit))
    .set(usElement(Tags.PixelRepresentation, o.pixelRepresentation ?? 0))
    .set({ tag: Tags.PixelData, vr: bitsAllocated > 8 ? 'OW' : 'OB', value: pixels });
  if (spp === 3) ds.set(usElement(Tags.PlanarConfiguration, o.planarConfiguration ?? 0));
  if (frames > 1) ds.set(textElement(Tags.NumberOfFrames, 'IS', String(frames)));
  o.extra?.(ds);
  return Buffer.concat(writePart10(meta, ds));
}
