/**
 * One frame of a revealed instance as a PNG a browser shows as is (WADO-RS Retrieve Rendered,
 * thumbnails, WADO-URI image/png). Greyscale frames are windowed as a viewer would (the asked
 * window, else the header's Window Center / Width on the rescaled values, else the full range for
 * 8 bits and the 0.5th-99.5th percentiles for deeper data; MONOCHROME1 inverted); RGB frames keep
 * their colours. Native pixels only: Veil has no decoder for compressed frames, and palette or YBR
 * colour would need one too. Runs in the reveal worker children, never on the gateway's thread
 * (a 3000 x 2500 frame takes ~0.6 s).
 */
import { type DataSet, Tags, readGeometry } from '../dicom';
import { isEncapsulated } from '../dicom/transfer-syntax';
import { VeilError } from '../errors';
import { ANALYSIS_BITS, readPlane } from './plane';
import { encodePng, type RasterImage } from './png';
import { picture, viewerMap } from './render';
import { displayHintsOf } from './source';

/** Largest side of a thumbnail when the request names no viewport. */
export const THUMBNAIL_SIDE = 128;
/** Largest viewport side a request may ask for. */
export const MAX_VIEWPORT = 4096;

const RENDERABLE = new Set(['MONOCHROME1', 'MONOCHROME2', 'RGB']);

/** What to render: the window and the viewport (from the request's query). */
export interface RenderOptions {
  /** `window=center,width[,linear]`: overrides the header's window. */
  window?: { center: number; width: number };
  /** `viewport=width,height`: the picture is scaled down (never up) to fit inside it. */
  viewport?: { width: number; height: number };
}

/** One rendering a reveal job item asks for: the frame (from 1) and its options. */
export interface RenderSpec extends RenderOptions {
  frame: number;
}

/** True for a well-formed RenderSpec: a frame from 1, a window of width >= 1, a viewport within MAX_VIEWPORT. */
export function isRenderSpec(r: RenderSpec): boolean {
  const side = (n: unknown) =>
    Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_VIEWPORT;
  return (
    Number.isSafeInteger(r.frame) &&
    r.frame >= 1 &&
    (r.window === undefined ||
      (Number.isFinite(r.window.center) &&
        Number.isFinite(r.window.width) &&
        r.window.width >= 1)) &&
    (r.viewport === undefined || (side(r.viewport.width) && side(r.viewport.height)))
  );
}

/**
 * What decides whether a frame can be rendered. Facts left out are not checked: the gateway knows
 * fewer of them from the catalogue (before any reveal) than the worker from the pixels.
 */
export interface RenderFacts {
  compressed: boolean;
  frames?: number;
  bitsAllocated?: number;
  bitsStored?: number;
  photometricInterpretation?: string;
}

/**
 * Throws the refusal of rendering frame `frameNumber`: VEIL_E_HTTP_NOT_ACCEPTABLE for pixels Veil
 * cannot draw (compressed, other colour models, other sample sizes), VEIL_E_NOT_FOUND for a frame
 * beyond the last.
 */
export function assertRenderable(facts: RenderFacts, frameNumber: number): void {
  if (facts.compressed) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      'The frames are compressed and Veil does not decode them: retrieve the frames instead.',
    );
  }
  const photometric = facts.photometricInterpretation;
  if (photometric !== undefined && !RENDERABLE.has(photometric)) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      `Veil renders MONOCHROME1, MONOCHROME2 and RGB images, not ${photometric}.`,
    );
  }
  if (
    (facts.bitsAllocated !== undefined &&
      facts.bitsAllocated !== 8 &&
      facts.bitsAllocated !== 16) ||
    (facts.bitsStored !== undefined && facts.bitsStored < ANALYSIS_BITS.min)
  ) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      `Veil renders 8- and 16-bit samples of at least ${ANALYSIS_BITS.min} stored bits.`,
    );
  }
  if (facts.frames !== undefined && frameNumber > facts.frames) {
    throw new VeilError(
      'VEIL_E_NOT_FOUND',
      `Frame ${frameNumber} is beyond the instance's ${facts.frames} frames`,
    );
  }
}

/**
 * Renders frame `frameNumber` (from 1) of a revealed instance as PNG. VEIL_E_NOT_FOUND for a frame
 * beyond the last or no Pixel Data; VEIL_E_HTTP_NOT_ACCEPTABLE for pixels Veil cannot render.
 */
export function renderFrame(
  dataset: DataSet,
  transferSyntaxUID: string,
  frameNumber: number,
  options: RenderOptions = {},
): Buffer {
  const pixels = dataset.get(Tags.PixelData);
  if (pixels === undefined) {
    throw new VeilError('VEIL_E_NOT_FOUND', 'The instance has no Pixel Data to render.');
  }
  // Fragments (no value) are compressed: refused before the geometry is read.
  const value = pixels.value;
  assertRenderable(
    { compressed: value === undefined || isEncapsulated(transferSyntaxUID) },
    frameNumber,
  );
  const geometry = readGeometry(dataset);
  assertRenderable({ compressed: false, ...geometry }, frameNumber);
  if (value!.length < geometry.expectedBytes) {
    throw new VeilError(
      'VEIL_E_DICOM_MALFORMED',
      'Pixel Data is shorter than Rows x Columns x Samples x Frames.',
    );
  }
  const plane = readPlane(value!, geometry, frameNumber - 1);
  // A header window is for greyscale; colour is shown as stored unless the request asks.
  const display =
    geometry.photometricInterpretation === 'RGB'
      ? { rescaleSlope: 1, rescaleIntercept: 0, photometricInterpretation: 'RGB' }
      : displayHintsOf(dataset, geometry);
  const hints = options.window
    ? { ...display, windowCenter: options.window.center, windowWidth: options.window.width }
    : display;
  const image = picture(plane, viewerMap(plane, hints, geometry.pixelRepresentation === 1));
  return encodePng(options.viewport ? fitInside(image, options.viewport) : image);
}

/** Scales down (nearest neighbour, aspect kept) to fit inside the viewport; never scales up. */
export function fitInside(
  image: RasterImage,
  viewport: { width: number; height: number },
): RasterImage {
  const scale = Math.min(1, viewport.width / image.width, viewport.height / image.height);
  if (scale === 1) return image;
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const { channels } = image;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.floor((y + 0.5) / scale));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.floor((x + 0.5) / scale));
      for (let c = 0; c < channels; c++) {
        data[(y * width + x) * channels + c] = image.data[(sy * image.width + sx) * channels + c]!;
      }
    }
  }
  return { width, height, channels, data };
}
