/**
 * Structural comparison of two data sets for tests, `veil inspect` and reveal checks. It names
 * where they differ and never prints values, so its output is safe to log.
 */
import { formatTag, type DataSet, type Element } from './data-set';

/** Options of diffDataSets. */
export interface DiffOptions {
  /** Tags to skip (at every nesting level), e.g. (0002,0000) group lengths. */
  ignore?: (tag: number) => boolean;
}

function kindOf(element: Element): 'items' | 'fragments' | 'value' {
  if (element.items !== undefined) return 'items';
  if (element.fragments !== undefined) return 'fragments';
  return 'value';
}

const EMPTY = Buffer.alloc(0);

function diffElement(
  path: string,
  a: Element,
  b: Element,
  options: DiffOptions,
  out: string[],
): void {
  if (a.vr !== b.vr) out.push(`${path} VR differs (${a.vr} vs ${b.vr})`);
  const kind = kindOf(a);
  if (kind !== kindOf(b)) {
    out.push(`${path} kind differs (${kind} vs ${kindOf(b)})`);
    return;
  }
  if (kind === 'items') {
    const itemsA = a.items!;
    const itemsB = b.items!;
    if (itemsA.length !== itemsB.length) {
      out.push(`${path} item count differs (${itemsA.length} vs ${itemsB.length})`);
    }
    const common = Math.min(itemsA.length, itemsB.length);
    for (let i = 0; i < common; i++)
      diffInto(`${path}[${i}]`, itemsA[i]!, itemsB[i]!, options, out);
    return;
  }
  if (kind === 'fragments') {
    const fa = a.fragments!;
    const fb = b.fragments!;
    if (fa.length !== fb.length) {
      out.push(`${path} fragment count differs (${fa.length} vs ${fb.length})`);
    }
    const common = Math.min(fa.length, fb.length);
    for (let i = 0; i < common; i++) {
      if (!fa[i]!.equals(fb[i]!)) {
        out.push(i === 0 ? `${path} basic offset table differs` : `${path} fragment ${i} differs`);
      }
    }
    return;
  }
  const va = a.value ?? EMPTY;
  const vb = b.value ?? EMPTY;
  if (va.length !== vb.length)
    out.push(`${path} value length differs (${va.length} vs ${vb.length})`);
  else if (!va.equals(vb)) out.push(`${path} value differs`);
}

function diffInto(
  prefix: string,
  a: DataSet,
  b: DataSet,
  options: DiffOptions,
  out: string[],
): void {
  const tags = new Set([...a.tags(), ...b.tags()]);
  for (const tag of [...tags].sort((x, y) => x - y)) {
    if (options.ignore?.(tag) === true) continue;
    const path = prefix === '' ? formatTag(tag) : `${prefix} > ${formatTag(tag)}`;
    const ea = a.get(tag);
    const eb = b.get(tag);
    if (ea === undefined) out.push(`${path} only in second`);
    else if (eb === undefined) out.push(`${path} only in first`);
    else diffElement(path, ea, eb, options, out);
  }
}

/**
 * Element-by-element comparison (recursing into sequences and fragments), returning human
 * readable differences like "(0010,0010) value differs" — never the values themselves.
 */
export function diffDataSets(a: DataSet, b: DataSet, options: DiffOptions = {}): string[] {
  const out: string[] = [];
  diffInto('', a, b, options, out);
  return out;
}
