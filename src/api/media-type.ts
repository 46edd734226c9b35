/**
 * Media types of the DICOMweb routes (PS3.18 8.7): parsing Content-Type and Accept, and choosing
 * what to answer. Parameters are matched case-insensitively; quoted values are unquoted.
 */

/** A parsed media type: lower-case type/subtype and its parameters (names lower-case). */
export interface MediaType {
  readonly type: string;
  readonly params: Readonly<Record<string, string>>;
  /** Quality from an Accept entry (1 when absent). */
  readonly q: number;
}

/** Splits on `sep` outside double quotes. */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' && text[i - 1] !== '\\') quoted = !quoted;
    else if (c === sep && !quoted) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** Parses one media type with parameters, e.g. `multipart/related; type="application/dicom"`. */
export function parseMediaType(text: string): MediaType | undefined {
  const [head, ...rest] = splitOutsideQuotes(text, ';');
  const type = head!.trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$/.test(type) && type !== '*/*') return undefined;
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    params[name] = value;
  }
  const q = params.q === undefined ? 1 : Number(params.q);
  return { type, params, q: Number.isFinite(q) ? q : 0 };
}

/** Parses an Accept header into its entries, best first (stable for equal q); absent → `*\/*`. */
export function parseAccept(header: string | undefined): MediaType[] {
  if (header === undefined || header.trim() === '') return [{ type: '*/*', params: {}, q: 1 }];
  return splitOutsideQuotes(header, ',')
    .map((part) => parseMediaType(part))
    .filter((m): m is MediaType => m !== undefined && m.q > 0)
    .map((m, i) => ({ m, i }))
    .sort((a, b) => b.m.q - a.m.q || a.i - b.i)
    .map(({ m }) => m);
}

/** True when an Accept entry covers `type` (exact, `major/*` or `*\/*`). */
export function covers(entry: MediaType, type: string): boolean {
  if (entry.type === '*/*' || entry.type === type) return true;
  return entry.type.endsWith('/*') && type.startsWith(entry.type.slice(0, -1));
}
