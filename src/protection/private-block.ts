/**
 * Veil's private block (PS3.5 7.8): a private creator "VEIL PROTECTION 1" reserving a block of
 * group 0009, holding the format version, the cipher suite and the protection record.
 */
import { DataSet, type Tag, makeTag, textElement } from '../dicom/data-set';

export const PRIVATE_GROUP = 0x0009;
export const PRIVATE_CREATOR = 'VEIL PROTECTION 1';

/** Element offsets inside the reserved block (gggg,xxee). */
export const PrivateElement = {
  FormatVersion: 0x01,
  CipherSuite: 0x02,
  ProtectionRecord: 0x10,
} as const;

/** The block byte (xx in (0009,xx10)) reserved by Veil's creator, or undefined. */
export function findVeilBlock(dataset: DataSet): number | undefined {
  for (let block = 0x10; block <= 0xff; block++) {
    if (dataset.string(makeTag(PRIVATE_GROUP, block)) === PRIVATE_CREATOR) return block;
  }
  return undefined;
}

/** Reserves the first free private block in group 0009 for Veil and returns its block byte. */
export function reserveVeilBlock(dataset: DataSet): number {
  for (let block = 0x10; block <= 0xff; block++) {
    const creatorTag = makeTag(PRIVATE_GROUP, block);
    if (dataset.has(creatorTag)) continue;
    dataset.set(textElement(creatorTag, 'LO', PRIVATE_CREATOR));
    return block;
  }
  // 240 private creators in one group do not happen in real data; treat it as malformed input.
  throw new RangeError('no free private block in group 0009');
}

/** Tag of one of Veil's private elements in the given block. */
export function veilTag(block: number, element: number): Tag {
  return makeTag(PRIVATE_GROUP, (block << 8) | element);
}

/** All tags belonging to Veil's block: its creator and its elements. */
export function veilBlockTags(dataset: DataSet, block: number): Tag[] {
  const creator = makeTag(PRIVATE_GROUP, block);
  const first = veilTag(block, 0x00);
  const last = veilTag(block, 0xff);
  return dataset.tags().filter((t) => t === creator || (t >= first && t <= last));
}
