/**
 * Writes Veil's sample DICOM files: small, standard Part 10 (Explicit VR Little Endian), fictional
 * patients, deterministic bytes. `npm run samples [outDir]`; the generators are also exported for
 * benchmarks and end-to-end tests that need larger or more instances.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type InstanceContext,
  type SamplePatient,
  commonModules,
  ctModules,
  dxModules,
  imagePixel,
  privateBlock,
  scModules,
  usModules,
} from './lib/iods';
import { type Element, writePart10 } from './lib/part10-writer';
import { ctSlice, dxChest, gradient8, headMono8, usFrames } from './lib/phantoms';

export type { SamplePatient } from './lib/iods';

/** Made-up UID root: 2.25 + the decimal form of a fixed UUID (PS3.5 B.2). */
export const SAMPLE_UID_ROOT = `2.25.${BigInt('0x7e11c0de5a3b4e0d9c2a1d3e5f7a9b0c').toString(10)}`;

const SOP_CLASS = {
  ct: '1.2.840.10008.5.1.4.1.1.2',
  dx: '1.2.840.10008.5.1.4.1.1.1.1',
  usMultiframe: '1.2.840.10008.5.1.4.1.1.3.1',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
} as const;

/** The sample files, by name without `.dcm`. */
export const SAMPLE_KINDS = [
  'ct-slice',
  'dx-12bit',
  'us-rgb-multiframe',
  'us-rgb-planar',
  'mono8',
  'tiny-8x8',
] as const;
/** Name of one sample file. */
export type SampleKind = (typeof SAMPLE_KINDS)[number];

/** Options of every generator; defaults reproduce the committed files. */
export interface SampleOptions {
  rows?: number;
  columns?: number;
  /** Frames of the multi-frame ultrasound samples (default 8). */
  frames?: number;
  patient?: Partial<SamplePatient>;
  accessionNumber?: string;
  /** Distinct seeds give distinct UIDs and noise; use one per fictional study. */
  seed?: number;
}

/** Options of generateCtSeries. */
export interface CtSeriesOptions extends Omit<SampleOptions, 'frames'> {
  slices: number;
}

const DEFAULT_PATIENTS: Record<SampleKind, SamplePatient & { seed: number }> = {
  'ct-slice': {
    name: 'DOE^JANE',
    id: 'VEIL-SAMPLE-0001',
    birthDate: '19700101',
    sex: 'F',
    seed: 1,
  },
  'dx-12bit': {
    name: 'ROE^RICHARD',
    id: 'VEIL-SAMPLE-0002',
    birthDate: '19650704',
    sex: 'M',
    seed: 2,
  },
  'us-rgb-multiframe': {
    name: 'POE^MARY',
    id: 'VEIL-SAMPLE-0003',
    birthDate: '19880229',
    sex: 'F',
    seed: 3,
  },
  'us-rgb-planar': {
    name: 'POE^MARY',
    id: 'VEIL-SAMPLE-0003',
    birthDate: '19880229',
    sex: 'F',
    seed: 3,
  },
  mono8: { name: 'DOE^JOHN', id: 'VEIL-SAMPLE-0004', birthDate: '19591231', sex: 'M', seed: 4 },
  'tiny-8x8': {
    name: 'MOE^BABY',
    id: 'VEIL-SAMPLE-0005',
    birthDate: '20230601',
    sex: 'O',
    seed: 5,
  },
};

function uid(...parts: number[]): string {
  const value = [SAMPLE_UID_ROOT, ...parts].join('.');
  if (value.length > 64) throw new Error(`sample UID longer than 64 characters: ${value}`);
  return value;
}

function context(
  kind: SampleKind,
  options: SampleOptions,
  series: { number: number; description: string; modality: string; sopClassUID: string },
  instanceNumber: number,
): InstanceContext {
  const defaults = DEFAULT_PATIENTS[kind];
  const seed = options.seed ?? defaults.seed;
  return {
    patient: {
      name: options.patient?.name ?? defaults.name,
      id: options.patient?.id ?? defaults.id,
      birthDate: options.patient?.birthDate ?? defaults.birthDate,
      sex: options.patient?.sex ?? defaults.sex,
    },
    accessionNumber: options.accessionNumber ?? `VEILACC${String(seed).padStart(4, '0')}`,
    studyUID: uid(1, seed),
    studyID: String(seed),
    studyDescription: 'Veil sample study',
    seriesUID: uid(2, seed, series.number),
    seriesNumber: series.number,
    seriesDescription: series.description,
    frameOfReferenceUID: uid(4, seed),
    sopClassUID: series.sopClassUID,
    sopInstanceUID: uid(3, seed, series.number, instanceNumber),
    instanceNumber,
    modality: series.modality,
  };
}

function part10(c: InstanceContext, elements: Element[]): Buffer {
  return writePart10(elements, {
    sopClassUID: c.sopClassUID,
    sopInstanceUID: c.sopInstanceUID,
    implementationClassUID: uid(0, 1),
    implementationVersionName: 'VEIL_SAMPLES_1',
  });
}

/** Mixes a seed and an index into a 32-bit noise seed. */
const noiseSeed = (seed: number, index: number): number =>
  (Math.imul(seed, 1000003) + Math.imul(index, 7919)) >>> 0;

/**
 * An axial CT series through a thorax phantom, one Part 10 buffer per slice (signed 16-bit,
 * Rescale Intercept -1024, 1.25 mm slices). `{ slices: 1 }` yields the committed ct-slice.dcm.
 */
export function generateCtSeries(options: CtSeriesOptions): Buffer[] {
  const rows = options.rows ?? 512;
  const columns = options.columns ?? 512;
  if (!Number.isInteger(options.slices) || options.slices < 1)
    throw new Error('slices must be a positive integer');
  const fov = 400;
  const thickness = 1.25;
  const out: Buffer[] = [];
  for (let i = 0; i < options.slices; i++) {
    const series = {
      number: 1,
      description: 'Thorax phantom',
      modality: 'CT',
      sopClassUID: SOP_CLASS.ct,
    };
    const c = context('ct-slice', options, series, i + 1);
    const z = options.slices === 1 ? 0 : -1 + (2 * i) / (options.slices - 1);
    const pixels = ctSlice(rows, columns, z, noiseSeed(options.seed ?? 1, i));
    const position = -(i - (options.slices - 1) / 2) * thickness;
    out.push(
      part10(c, [
        ...commonModules(c, ['ORIGINAL', 'PRIMARY', 'AXIAL'], 'CHEST'),
        ...ctModules(c, { position, thickness, spacing: fov / columns, fov }),
        ...privateBlock(),
        ...imagePixel({
          rows,
          columns,
          samplesPerPixel: 1,
          photometric: 'MONOCHROME2',
          bitsAllocated: 16,
          bitsStored: 16,
          signed: true,
          pixels,
        }),
      ]),
    );
  }
  return out;
}

/** One sample file's bytes; options other than the defaults give bigger or different instances. */
export function generateSample(kind: SampleKind, options: SampleOptions = {}): Buffer {
  const seed = options.seed ?? DEFAULT_PATIENTS[kind].seed;
  switch (kind) {
    case 'ct-slice':
      return generateCtSeries({ ...options, slices: 1 })[0];
    case 'dx-12bit': {
      const rows = options.rows ?? 1024;
      const columns = options.columns ?? 1024;
      const c = context(
        kind,
        options,
        { number: 1, description: 'Chest PA', modality: 'DX', sopClassUID: SOP_CLASS.dx },
        1,
      );
      return part10(c, [
        ...commonModules(c, ['ORIGINAL', 'PRIMARY'], 'CHEST'),
        ...dxModules(430 / columns),
        ...imagePixel({
          rows,
          columns,
          samplesPerPixel: 1,
          photometric: 'MONOCHROME2',
          bitsAllocated: 16,
          bitsStored: 12,
          signed: false,
          pixels: dxChest(rows, columns, seed),
        }),
      ]);
    }
    case 'us-rgb-multiframe':
    case 'us-rgb-planar': {
      const planar = kind === 'us-rgb-planar';
      const rows = options.rows ?? 256;
      const columns = options.columns ?? 256;
      const frames = options.frames ?? 8;
      const series = {
        number: planar ? 2 : 1,
        description: planar ? 'Abdomen cine (planar)' : 'Abdomen cine',
        modality: 'US',
        sopClassUID: SOP_CLASS.usMultiframe,
      };
      const c = context(kind, options, series, 1);
      return part10(c, [
        ...commonModules(c, ['ORIGINAL', 'PRIMARY', 'ABDOMINAL', '0011'], 'ABDOMEN'),
        ...usModules(frames),
        ...imagePixel({
          rows,
          columns,
          samplesPerPixel: 3,
          photometric: 'RGB',
          bitsAllocated: 8,
          bitsStored: 8,
          signed: false,
          planarConfiguration: planar ? 1 : 0,
          pixels: usFrames(rows, columns, frames, seed, planar),
        }),
      ]);
    }
    case 'mono8':
    case 'tiny-8x8': {
      const tiny = kind === 'tiny-8x8';
      const rows = options.rows ?? (tiny ? 8 : 256);
      const columns = options.columns ?? (tiny ? 8 : 256);
      const series = {
        number: 1,
        description: tiny ? 'Tiny gradient' : 'Head phantom',
        modality: 'OT',
        sopClassUID: SOP_CLASS.secondaryCapture,
      };
      const c = context(kind, options, series, 1);
      const pixels = tiny ? gradient8(rows, columns) : headMono8(rows, columns, seed);
      return part10(c, [
        ...commonModules(c, ['DERIVED', 'SECONDARY'], 'HEAD'),
        ...scModules(),
        ...imagePixel({
          rows,
          columns,
          samplesPerPixel: 1,
          photometric: 'MONOCHROME2',
          bitsAllocated: 8,
          bitsStored: 8,
          signed: false,
          pixels,
        }),
      ]);
    }
  }
}

/** Writes every sample into `outDir` (default: this folder) and returns the paths written. */
export function writeSamples(outDir: string = __dirname): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  return SAMPLE_KINDS.map((kind) => {
    const file = path.join(outDir, `${kind}.dcm`);
    fs.writeFileSync(file, generateSample(kind));
    return file;
  });
}

if (require.main === module) {
  for (const file of writeSamples(path.resolve(process.argv[2] ?? __dirname))) {
    console.log(`wrote ${path.relative(process.cwd(), file)} (${fs.statSync(file).size} bytes)`);
  }
}
