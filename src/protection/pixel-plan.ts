/**
 * Decides how one instance's pixels are protected: native pixels get stego + encryption,
 * compressed ones follow the configured policy (decode, encrypt as opaque fragments, reject).
 * Pixels are never passed through in clear.
 */
import {
  type DataSet,
  type Element,
  type ParsedInstance,
  type PixelGeometry,
  Tags,
  TransferSyntax,
  decodeRle,
  framesOfFragments,
  isEncapsulated,
  readGeometry,
  transferSyntaxName,
} from '../dicom';
import { VeilError } from '../errors';
import type { CompressedPolicy } from './options';
import type { PixelMode } from './record';

export interface PixelPlan {
  mode: PixelMode;
  /** The pixel element in the data set (already replaced by its decoded form for mode 'decoded'). */
  element?: Element;
  geometry?: PixelGeometry;
  /** Byte regions the cipher covers, in order: the value, or each fragment after the offset table. */
  regions: Buffer[];
  /** Whether stego can run: native integer pixels only. */
  stegoCapable: boolean;
  /** Why stego cannot run, for the report. */
  stegoUnavailableReason?: string;
  /** Transfer syntax of the written object. */
  transferSyntaxUID: string;
  /** Geometry bound into the cipher's AAD. */
  geometryKey: string;
}

/** Geometry in words, bound into the AAD so pixels cannot be re-interpreted under another geometry. */
export function geometryKey(g: PixelGeometry | undefined): string {
  if (g === undefined) return '-';
  return [
    `${g.rows}x${g.columns}x${g.frames}x${g.samplesPerPixel}`,
    g.bitsAllocated,
    g.bitsStored,
    g.highBit,
    g.pixelRepresentation,
    g.planarConfiguration,
  ].join('/');
}

/** Policy for one transfer syntax. */
export function policyFor(
  uid: string,
  compressed: {
    default: CompressedPolicy;
    byTransferSyntax?: Readonly<Record<string, CompressedPolicy>>;
  },
): CompressedPolicy {
  return compressed.byTransferSyntax?.[uid] ?? compressed.default;
}

/** Builds the plan for a freshly parsed (unprotected) instance; may decode RLE into the data set. */
export function planPixels(
  parsed: ParsedInstance,
  compressed: {
    default: CompressedPolicy;
    byTransferSyntax?: Readonly<Record<string, CompressedPolicy>>;
  },
): PixelPlan {
  const { dataset, transferSyntaxUID } = parsed;
  const pixel = dataset.get(Tags.PixelData);
  if (pixel === undefined) return planWithoutIntegerPixels(dataset);

  const geometry = readGeometry(dataset);
  if (pixel.fragments) {
    const policy = policyFor(transferSyntaxUID, compressed);
    if (policy === 'reject') {
      throw new VeilError(
        'VEIL_E_POLICY_REJECTED',
        `Compressed pixel data in ${transferSyntaxName(transferSyntaxUID)} is rejected by policy.`,
        { transferSyntaxUID },
      );
    }
    if (policy === 'decode') {
      if (transferSyntaxUID !== TransferSyntax.RLELossless) {
        throw new VeilError(
          'VEIL_E_POLICY_REJECTED',
          `Policy says decode, but Veil has no decoder for ${transferSyntaxName(transferSyntaxUID)}; configure encrypt or reject.`,
          { transferSyntaxUID },
        );
      }
      const decoded = decodeRle(framesOfFragments(pixel.fragments, geometry.frames), geometry);
      const element: Element = {
        tag: Tags.PixelData,
        vr: geometry.bitsAllocated > 8 ? 'OW' : 'OB',
        value: decoded,
      };
      dataset.set(element);
      return nativePlan('decoded', element, geometry);
    }
    return {
      mode: 'encapsulated',
      element: pixel,
      geometry,
      regions: pixel.fragments.slice(1),
      stegoCapable: false,
      stegoUnavailableReason: 'compressed pixel data encrypted as opaque fragments',
      transferSyntaxUID,
      geometryKey: geometryKey(geometry),
    };
  }
  if (isEncapsulated(transferSyntaxUID)) {
    throw new VeilError(
      'VEIL_E_DICOM_MALFORMED',
      'Transfer syntax is compressed but Pixel Data is not encapsulated.',
    );
  }
  return nativePlan('native', pixel, geometry);
}

function nativePlan(mode: PixelMode, element: Element, geometry: PixelGeometry): PixelPlan {
  const value = element.value ?? Buffer.alloc(0);
  if (value.length < geometry.expectedBytes) {
    throw new VeilError(
      'VEIL_E_DICOM_PIXELS_SHORT',
      `Pixel Data has ${value.length} bytes; the geometry needs ${geometry.expectedBytes}.`,
    );
  }
  return {
    mode,
    element,
    geometry,
    regions: [value],
    stegoCapable: true,
    transferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian,
    geometryKey: geometryKey(geometry),
  };
}

/** Float / Double Float Pixel Data are encrypted whole without stego; no pixels at all: header only. */
function planWithoutIntegerPixels(dataset: DataSet): PixelPlan {
  for (const tag of [Tags.FloatPixelData, Tags.DoubleFloatPixelData]) {
    const element = dataset.get(tag);
    if (element?.value) {
      return {
        mode: 'native',
        element,
        regions: [element.value],
        stegoCapable: false,
        stegoUnavailableReason: 'floating point pixel data has no stored-bit LSB',
        transferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian,
        geometryKey: regionsKey(tag, undefined),
      };
    }
  }
  return {
    mode: 'none',
    regions: [],
    stegoCapable: false,
    stegoUnavailableReason: 'no pixel data',
    transferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian,
    geometryKey: '-',
  };
}

/** Finds the protected pixel regions again at reveal time, from the stored mode. */
export function protectedRegions(
  dataset: DataSet,
  mode: PixelMode,
): { element?: Element; regions: Buffer[]; geometry?: PixelGeometry } {
  if (mode === 'none') return { regions: [] };
  const pixel = dataset.get(Tags.PixelData);
  if (pixel === undefined) {
    for (const tag of [Tags.FloatPixelData, Tags.DoubleFloatPixelData]) {
      const el = dataset.get(tag);
      if (el?.value) return { element: el, regions: [el.value] };
    }
    throw new VeilError('VEIL_E_REVEAL_PIXELS_TAMPERED', 'The protected pixel data is missing.');
  }
  const geometry = readGeometry(dataset);
  if (mode === 'encapsulated') {
    if (!pixel.fragments)
      throw new VeilError('VEIL_E_REVEAL_PIXELS_TAMPERED', 'Encrypted fragments are missing.');
    return { element: pixel, regions: pixel.fragments.slice(1), geometry };
  }
  if (!pixel.value)
    throw new VeilError('VEIL_E_REVEAL_PIXELS_TAMPERED', 'The protected pixel data is missing.');
  return { element: pixel, regions: [pixel.value], geometry };
}

/**
 * The geometry string bound into the pixel AAD at reveal / rewrap time: the integer geometry, or
 * for Float / Double Float Pixel Data (no integer geometry) the element's tag, as protect binds it.
 */
export function regionsKey(tag: number | undefined, geometry: PixelGeometry | undefined): string {
  if (geometry) return geometryKey(geometry);
  return tag === undefined ? '-' : `float:${tag.toString(16)}`;
}
