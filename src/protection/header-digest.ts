/**
 * Canonical digest of a protected header, so that reveal can tell an edited header from altered
 * pixels. Independent of transfer syntax and VR (an archive may return Implicit VR), sensitive
 * only to tags, structure and value bytes as written (odd values padded as the writer pads them).
 */
import { createHash, type Hash } from 'node:crypto';
import { type DataSet, type Tag, isTextVr } from '../dicom/data-set';
import { Tags } from '../dicom/tags';

/** SHA-256 over the canonical form of `dataset`, skipping group 0002 and the tags in `exclude`. */
export function headerDigest(dataset: DataSet, exclude: ReadonlySet<Tag>): Buffer {
  const hash = createHash('sha256');
  update(hash, dataset, exclude, true);
  return hash.digest();
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function update(hash: Hash, dataset: DataSet, exclude: ReadonlySet<Tag>, top: boolean): void {
  for (const tag of dataset.tags()) {
    if (top && (tag >>> 16 === 0x0002 || exclude.has(tag))) continue;
    const el = dataset.get(tag)!;
    hash.update(u32(tag));
    if (el.items) {
      hash.update('S');
      hash.update(u32(el.items.length));
      for (const item of el.items) {
        hash.update('I');
        update(hash, item, exclude, false);
        hash.update('E');
      }
    } else if (el.fragments) {
      // Fragments are ciphertext covered by GCM; bind their count, lengths and the offset table.
      hash.update('F');
      hash.update(u32(el.fragments.length));
      el.fragments.forEach((f, i) => {
        hash.update(u32(f.length));
        if (i === 0) hash.update(f);
      });
    } else {
      const value = el.value ?? Buffer.alloc(0);
      const padded = value.length + (value.length & 1);
      hash.update('V');
      hash.update(u32(padded));
      // Pixel Data is ciphertext covered by GCM: bind its length only (no second pass over it).
      if (top && tag === Tags.PixelData) continue;
      hash.update(value);
      if (value.length & 1)
        hash.update(Buffer.from([isTextVr(el.vr) && el.vr !== 'UI' ? 0x20 : 0]));
    }
  }
}
