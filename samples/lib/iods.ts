/**
 * The attributes of each sample's IOD (PS3.3 Annex A), module by module, so that dciodvfy finds
 * every Type 1 and Type 2 attribute. Values are made up; patients are obviously fictional.
 */
import { type Element, el } from './part10-writer';

/** An obviously fictional patient. */
export interface SamplePatient {
  name: string;
  id: string;
  birthDate: string;
  sex: 'F' | 'M' | 'O';
}

/** Identifiers and dates of one instance within its study and series. */
export interface InstanceContext {
  patient: SamplePatient;
  accessionNumber: string;
  studyUID: string;
  studyID: string;
  studyDescription: string;
  seriesUID: string;
  seriesNumber: number;
  seriesDescription: string;
  frameOfReferenceUID: string;
  sopClassUID: string;
  sopInstanceUID: string;
  instanceNumber: number;
  modality: string;
}

const DATE = '20240115';
const TIME = '101500';

/** SOP Common, Patient, General Study, General Series, General Equipment, General Image (PS3.3 C.7, C.12.1). */
export function commonModules(
  c: InstanceContext,
  imageType: readonly string[],
  bodyPart?: string,
): Element[] {
  // An unpaired Body Part Examined lets Laterality (Type 2C) be absent, as PS3.3 C.7.3.1 asks
  const body = bodyPart ? [el(0x00180015, 'CS', bodyPart)] : [];
  return [
    ...body,
    el(0x00080008, 'CS', imageType),
    el(0x00080012, 'DA', DATE),
    el(0x00080013, 'TM', TIME),
    el(0x00080016, 'UI', c.sopClassUID),
    el(0x00080018, 'UI', c.sopInstanceUID),
    el(0x00080020, 'DA', DATE),
    el(0x00080021, 'DA', DATE),
    el(0x00080023, 'DA', DATE),
    el(0x00080030, 'TM', TIME),
    el(0x00080031, 'TM', TIME),
    el(0x00080033, 'TM', TIME),
    el(0x00080050, 'SH', c.accessionNumber),
    el(0x00080060, 'CS', c.modality),
    el(0x00080070, 'LO', 'Veil Samples'),
    el(0x00080080, 'LO', 'Veil Sample Hospital'),
    el(0x00080090, 'PN', 'REFERRER^SAMPLE'),
    el(0x00081030, 'LO', c.studyDescription),
    el(0x0008103e, 'LO', c.seriesDescription),
    el(0x00081090, 'LO', 'veil-samples'),
    el(0x00100010, 'PN', c.patient.name),
    el(0x00100020, 'LO', c.patient.id),
    el(0x00100030, 'DA', c.patient.birthDate),
    el(0x00100040, 'CS', c.patient.sex),
    el(0x00181020, 'LO', '1'),
    el(0x0020000d, 'UI', c.studyUID),
    el(0x0020000e, 'UI', c.seriesUID),
    el(0x00200010, 'SH', c.studyID),
    el(0x00200011, 'IS', String(c.seriesNumber)),
    el(0x00200013, 'IS', String(c.instanceNumber)),
  ];
}

/** Image Pixel module (PS3.3 C.7.6.3). */
export function imagePixel(p: {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  photometric: string;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  planarConfiguration?: number;
  pixels: Buffer;
}): Element[] {
  const elements = [
    el(0x00280002, 'US', p.samplesPerPixel),
    el(0x00280004, 'CS', p.photometric),
    el(0x00280010, 'US', p.rows),
    el(0x00280011, 'US', p.columns),
    el(0x00280100, 'US', p.bitsAllocated),
    el(0x00280101, 'US', p.bitsStored),
    el(0x00280102, 'US', p.bitsStored - 1),
    el(0x00280103, 'US', p.signed ? 1 : 0),
    el(0x7fe00010, p.bitsAllocated > 8 ? 'OW' : 'OB', p.pixels),
  ];
  if (p.planarConfiguration !== undefined)
    elements.push(el(0x00280006, 'US', p.planarConfiguration));
  return elements;
}

/** A private block (PS3.5 7.8.1) that a protect/reveal round trip must carry through untouched. */
export function privateBlock(): Element[] {
  return [
    el(0x00090010, 'LO', 'VEIL SAMPLE PRIVATE'),
    el(0x00091001, 'LO', 'private data survives'),
    el(0x00091002, 'SL', [1, -2, 65536]),
  ];
}

/** CT Image IOD extras: Frame of Reference, Image Plane, CT Image, VOI LUT (PS3.3 A.3). */
export function ctModules(
  c: InstanceContext,
  slice: { position: number; thickness: number; spacing: number; fov: number },
): Element[] {
  const half = -slice.fov / 2 + slice.spacing / 2;
  return [
    el(0x00180022, 'CS', 'HELICAL'),
    el(0x00180050, 'DS', slice.thickness.toFixed(2)),
    el(0x00180060, 'DS', '120'),
    el(0x00181100, 'DS', slice.fov.toFixed(1)),
    el(0x00181151, 'IS', '200'),
    el(0x00185100, 'CS', 'HFS'),
    el(0x00200012, 'IS', '1'),
    el(0x00200032, 'DS', [half.toFixed(4), half.toFixed(4), slice.position.toFixed(2)]),
    el(0x00200037, 'DS', ['1', '0', '0', '0', '1', '0']),
    el(0x00200052, 'UI', c.frameOfReferenceUID),
    el(0x00201040, 'LO', ''),
    el(0x00201041, 'DS', slice.position.toFixed(2)),
    el(0x00280030, 'DS', [slice.spacing.toFixed(6), slice.spacing.toFixed(6)]),
    el(0x00280120, 'SS', -2000),
    el(0x00281050, 'DS', ['40', '-600']),
    el(0x00281051, 'DS', ['400', '1500']),
    el(0x00281052, 'DS', '-1024'),
    el(0x00281053, 'DS', '1'),
    el(0x00281054, 'LO', 'HU'),
  ];
}

/** DX Series, DX Anatomy Imaged, DX Image, DX Detector, Acquisition Context, VOI LUT (PS3.3 A.26). */
export function dxModules(spacing: number): Element[] {
  const chest = [
    el(0x00080100, 'SH', '51185008'),
    el(0x00080102, 'SH', 'SCT'),
    el(0x00080104, 'LO', 'Chest'),
  ];
  const pa = [
    el(0x00080100, 'SH', '399348003'),
    el(0x00080102, 'SH', 'SCT'),
    el(0x00080104, 'LO', 'postero-anterior'),
  ];
  return [
    el(0x00080068, 'CS', 'FOR PRESENTATION'),
    el(0x00082218, 'SQ', [chest]),
    el(0x00181164, 'DS', [spacing.toFixed(3), spacing.toFixed(3)]),
    el(0x00181508, 'CS', ''),
    el(0x00185101, 'CS', 'PA'),
    el(0x00187004, 'CS', 'DIRECT'),
    el(0x00200020, 'CS', ['L', 'F']),
    el(0x00200062, 'CS', 'U'),
    el(0x00280301, 'CS', 'NO'),
    el(0x00281040, 'CS', 'LIN'),
    el(0x00281041, 'SS', 1),
    el(0x00281050, 'DS', '2048'),
    el(0x00281051, 'DS', '4096'),
    el(0x00281052, 'DS', '0'),
    el(0x00281053, 'DS', '1'),
    el(0x00281054, 'LO', 'US'),
    el(0x00282110, 'CS', '00'),
    el(0x00400555, 'SQ', []),
    el(0x00540220, 'SQ', [pa]),
    el(0x20500020, 'CS', 'IDENTITY'),
  ];
}

/** Cine, Multi-frame and US Image modules (PS3.3 A.7). */
export function usModules(frames: number): Element[] {
  return [
    el(0x00181063, 'DS', '40'),
    el(0x00200020, 'CS', ''),
    el(0x00280008, 'IS', String(frames)),
    el(0x00280009, 'AT', 0x00181063),
    el(0x00282110, 'CS', '00'),
  ];
}

/** SC Equipment and General Image patient orientation (PS3.3 A.8.1). */
export function scModules(): Element[] {
  return [el(0x00080064, 'CS', 'WSD'), el(0x00200020, 'CS', '')];
}
