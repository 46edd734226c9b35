/**
 * The instance under analysis: native pixels (RLE decoded as protect's `decode` policy does; an
 * already protected object revealed first with the caller's keys), its geometry and what a viewer
 * needs to window it (PS3.3 C.11.2.1.2 Window Center/Width, C.7.6.16.2.11 Rescale).
 */
import {
  type DataSet,
  type PixelGeometry,
  Tags,
  TransferSyntax,
  isEncapsulated,
  parsePart10,
  transferSyntaxName,
  writePart10,
} from '../dicom';
import type { PrivateKey } from '../crypto';
import { VeilError } from '../errors';
import { planPixels } from '../protection/pixel-plan';
import { findVeilBlock } from '../protection/private-block';
import { reveal } from '../protection';
import { checkAnalysable } from './plane';

/** How a viewer would map stored values to grey: from the header when present. */
export interface DisplayHints {
  windowCenter?: number;
  windowWidth?: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  photometricInterpretation: string;
}

/** A native, unprotected instance ready for protect() and for the metrics. */
export interface SourceInstance {
  /** Part 10 bytes with native pixels (the input itself when it already was native). */
  bytes: Buffer;
  geometry: PixelGeometry;
  /** The native Pixel Data value (a view into `bytes` or a decoded copy). */
  pixels: Buffer;
  sopClassUID: string;
  transferSyntaxUID: string;
  /** True when the input was a Veil-protected object that was revealed for the analysis. */
  revealedFromProtected: boolean;
  display: DisplayHints;
}

const WindowCenter = 0x00281050;
const WindowWidth = 0x00281051;
const RescaleIntercept = 0x00281052;
const RescaleSlope = 0x00281053;

/** Reads the instance; VEIL_E_KEY_NOT_FOUND for a protected input without keys. */
export function readSource(input: Buffer, privateKeys: PrivateKey[] = []): SourceInstance {
  let bytes = input;
  let parsed = parsePart10(bytes);
  let revealedFromProtected = false;
  if (findVeilBlock(parsed.dataset) !== undefined) {
    if (privateKeys.length === 0) {
      throw new VeilError(
        'VEIL_E_KEY_NOT_FOUND',
        'The input is protected: analysing it needs a private key to reveal it first.',
      );
    }
    bytes = reveal(input, { privateKeys }).bytes;
    parsed = parsePart10(bytes);
    revealedFromProtected = true;
  }
  const pixel = parsed.dataset.get(Tags.PixelData);
  if (pixel === undefined) {
    throw new VeilError('VEIL_E_DICOM_NO_PIXELS', 'The instance has no Pixel Data to analyse.');
  }
  const transferSyntaxUID = parsed.transferSyntaxUID;
  if (pixel.fragments || isEncapsulated(transferSyntaxUID)) {
    if (transferSyntaxUID !== TransferSyntax.RLELossless) {
      throw new VeilError(
        'VEIL_E_DICOM_TRANSFER_SYNTAX',
        `Analysis needs native pixels; Veil cannot decode ${transferSyntaxName(transferSyntaxUID)}.`,
      );
    }
    // The same decoder protect() uses under the `decode` policy, then written natively.
    planPixels(parsed, { default: 'decode' });
    bytes = Buffer.concat(writePart10(parsed.meta, parsed.dataset));
    parsed = parsePart10(bytes);
  }
  const plan = planPixels(parsed, { default: 'reject' });
  const geometry = plan.geometry!;
  checkAnalysable(geometry);
  const ds = parsed.dataset;
  return {
    bytes,
    geometry,
    pixels: plan.regions[0]!,
    sopClassUID: ds.string(Tags.SOPClassUID)?.trim() ?? '',
    transferSyntaxUID,
    revealedFromProtected,
    display: displayHintsOf(ds, geometry),
  };
}

/**
 * How a viewer would show the image: the first Window Center / Width (a width below 1 is ignored),
 * the modality rescale (identity when absent) and the photometric interpretation.
 */
export function displayHintsOf(ds: DataSet, geometry: PixelGeometry): DisplayHints {
  const first = (tag: number): number | undefined => {
    const text = ds.string(tag)?.split('\\')[0]?.trim();
    const value = text ? Number(text) : NaN;
    return Number.isFinite(value) ? value : undefined;
  };
  const windowCenter = first(WindowCenter);
  const windowWidth = first(WindowWidth);
  return {
    ...(windowCenter !== undefined && windowWidth !== undefined && windowWidth >= 1
      ? { windowCenter, windowWidth }
      : {}),
    rescaleSlope: first(RescaleSlope) ?? 1,
    rescaleIntercept: first(RescaleIntercept) ?? 0,
    photometricInterpretation: geometry.photometricInterpretation,
  };
}

/**
 * The instance with the lowest stored bit of one sample flipped (the differential attack's
 * second plain image: one pixel differs by one level).
 */
export function withOneSampleChanged(source: SourceInstance, sample: number): Buffer {
  const parsed = parsePart10(source.bytes);
  const pixel = parsed.dataset.get(Tags.PixelData)!;
  const value = Buffer.from(pixel.value!);
  const g = source.geometry;
  const lsb = g.highBit - g.bitsStored + 1;
  if (g.bitsAllocated === 8) value[sample] = value[sample]! ^ (1 << lsb);
  else value.writeUInt16LE(value.readUInt16LE(2 * sample) ^ (1 << lsb), 2 * sample);
  parsed.dataset.set({ ...pixel, value });
  return Buffer.concat(writePart10(parsed.meta, parsed.dataset));
}
