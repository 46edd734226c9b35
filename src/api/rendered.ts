/**
 * WADO-RS Retrieve Rendered and Thumbnail (PS3.18 10.4.1.1.3, 10.7), the HTTP side: the `window`
 * and `viewport` parameters and the Accept negotiation. The picture itself is made by the reveal
 * worker (analysis/render-frame.ts), off the gateway's thread.
 */
import { MAX_VIEWPORT, type RenderOptions } from '../analysis/render-frame';
import { VeilError } from '../errors';
import { covers, parseAccept } from './media-type';

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
