/**
 * WADO-RS Retrieve Rendered and Thumbnail (PS3.18 10.4.1.1.3, 10.7): one frame of a revealed
 * instance as a PNG a browser shows as is. Greyscale frames are windowed as a viewer would (the
 * `window` parameter, else the header's Window Center / Width on the rescaled values, else the
 * full range for 8 bits and the 0.5th-99.5th percentiles for deeper data; MONOCHROME1 inverted);
 * RGB frames keep their colours. Veil renders native pixels only: it has no decoder for compressed
 * frames, and palette or YBR colour would need one too.
 */
import { displayHintsOf } from '../analysis/source';
import { ANALYSIS_BITS, readPlane } from '../analysis/plane';
import { encodePng, type RasterImage } from '../analysis/png';
import { picture, viewerMap } from '../analysis/render';
import { type DataSet, Tags, readGeometry } from '../dicom';
import { isEncapsulated } from '../dicom/transfer-syntax';
import { VeilError } from '../errors';
import { covers, parseAccept } from './media-type';

/** Largest side of a thumbnail when the request names no viewport. */
export const THUMBNAIL_SIDE = 128;
/** Largest viewport side a request may ask for. */
const MAX_VIEWPORT = 4096;

const RENDERABLE = new Set(['MONOCHROME1', 'MONOCHROME2', 'RGB']);

/** Options of a rendering, from the query string. */
export interface RenderOptions {
  /** `window=center,width[,linear]`: overrides the header's window. */
  window?: { center: number; width: number };
  /** `viewport=width,height`: the picture is scaled down (never up) to fit inside it. */
  viewport?: { width: number; height: number };
}

const badRequest = (message: string) => new VeilError('VEIL_E_HTTP_BAD_REQUEST', message);

/**
 * One query parameter (express 'simple' parser: a string, or an array when repeated), undefined
 * when absent; a repeated one is VEIL_E_HTTP_BAD_REQUEST.
 */
export function singleParam(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`The ${name} parameter is given twice.`);
  return value;
}

/** Reads `window` and `viewport` from a query. */
export function renderOptions(query: Record<string, unknown>): RenderOptions {
  const one = (name: string) => singleParam(query, name);
  const options: RenderOptions = {};
  const window = one('window');
  if (window !== undefined) {
    const [c, w, fn, ...rest] = window.split(',');
    const center = Number(c);
    const width = Number(w);
    if (
      rest.length > 0 ||
      !Number.isFinite(center) ||
      !Number.isFinite(width) ||
      width < 1 ||
      (fn !== undefined && fn.toLowerCase() !== 'linear')
    ) {
      throw badRequest('window is center,width[,linear] with a width of at least 1.');
    }
    options.window = { center, width };
  }
  const viewport = one('viewport');
  if (viewport !== undefined) {
    const parts = viewport.split(',');
    const [width, height] = parts.map(Number);
    const valid = (n: number | undefined) =>
      n !== undefined && Number.isInteger(n) && n >= 1 && n <= MAX_VIEWPORT;
    if (parts.length !== 2 || !valid(width) || !valid(height)) {
      throw badRequest(`viewport is width,height in pixels, each 1 to ${MAX_VIEWPORT}.`);
    }
    options.viewport = { width: width!, height: height! };
  }
  return options;
}

/** Throws VEIL_E_HTTP_NOT_ACCEPTABLE unless Accept takes image/png (absent, *\/*, image/*). */
export function acceptRendered(accept: string | undefined): void {
  if (!parseAccept(accept).some((m) => covers(m, 'image/png'))) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      'Rendered images are answered as image/png only.',
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
  if (pixels.value === undefined || isEncapsulated(transferSyntaxUID)) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      'The frames are compressed and Veil does not decode them: retrieve the frames instead.',
    );
  }
  const geometry = readGeometry(dataset);
  if (!RENDERABLE.has(geometry.photometricInterpretation)) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      `Veil renders MONOCHROME1, MONOCHROME2 and RGB images, not ${geometry.photometricInterpretation}.`,
    );
  }
  if (
    (geometry.bitsAllocated !== 8 && geometry.bitsAllocated !== 16) ||
    geometry.bitsStored < ANALYSIS_BITS.min
  ) {
    throw new VeilError(
      'VEIL_E_HTTP_NOT_ACCEPTABLE',
      `Veil renders 8- and 16-bit samples of at least ${ANALYSIS_BITS.min} stored bits.`,
    );
  }
  if (frameNumber > geometry.frames) {
    throw new VeilError(
      'VEIL_E_NOT_FOUND',
      `Frame ${frameNumber} is beyond the instance's ${geometry.frames} frames`,
    );
  }
  if (pixels.value.length < geometry.expectedBytes) {
    throw new VeilError(
      'VEIL_E_DICOM_MALFORMED',
      'Pixel Data is shorter than Rows x Columns x Samples x Frames.',
    );
  }
  const plane = readPlane(pixels.value, geometry, frameNumber - 1);
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
