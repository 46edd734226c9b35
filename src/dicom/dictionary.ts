/**
 * The PS3.6 data dictionary, read from dcmjs's packed dictionary, plus the PS3.5 rules the
 * dictionary cannot express: group lengths (UL), private creators (LO), unknown private data (UN).
 */
import { elementOf, groupOf, isPrivateTag, type Tag } from './data-set';

/** The slice of dcmjs we use: its dictionary proxy and keyword map. */
interface DictionaryEntry {
  readonly tag: string;
  readonly vr: string;
  readonly name: string;
}
interface DcmjsDictionary {
  readonly data: {
    readonly DicomMetaDictionary: {
      readonly dictionary: Record<string, DictionaryEntry | undefined>;
      readonly nameMap: Record<string, DictionaryEntry | undefined>;
    };
  };
}

// dcmjs ships no type definitions; this typed require keeps its surface to what is declared above.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs = require('dcmjs') as DcmjsDictionary;
const meta = dcmjs.data.DicomMetaDictionary;

/**
 * dcmjs encodes multi-VR entries with lower-case codes: 'ox' = OB or OW, 'xs' = US or SS,
 * 'lt' = US or OW (LUT data), 'up' = UL offset, 'na' = no VR (items and delimiters).
 */
const AMBIGUOUS_VR_DEFAULT: Readonly<Record<string, string>> = {
  ox: 'OW',
  xs: 'US',
  lt: 'OW',
  up: 'UL',
  na: 'UN',
};

const RETIRED_PREFIX = 'RETIRED_';

function hex8(tag: Tag): string {
  return (tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
}

/**
 * The dictionary's raw VR code for a public tag ('US', 'SQ', or an ambiguous code like 'ox'
 * or 'xs'), or undefined for private and unknown tags. Parsers use it to resolve ambiguity.
 */
export function dictionaryVrCode(tag: Tag): string | undefined {
  if (isPrivateTag(tag)) return undefined;
  return meta.dictionary[hex8(tag)]?.vr;
}

/**
 * VR of a tag: group length (gggg,0000) is UL, private creators (odd gggg,0010-00FF) are LO,
 * other private tags UN, public tags from the dictionary (first choice when ambiguous), else UN.
 */
export function vrOf(tag: Tag): string {
  if (elementOf(tag) === 0x0000) return 'UL';
  if (isPrivateTag(tag)) {
    const element = elementOf(tag);
    return element >= 0x0010 && element <= 0x00ff && groupOf(tag) > 0x0008 ? 'LO' : 'UN';
  }
  const code = dictionaryVrCode(tag);
  if (code === undefined) return 'UN';
  return AMBIGUOUS_VR_DEFAULT[code] ?? code;
}

/** The PS3.6 keyword of a public tag (retired ones too, without dcmjs's RETIRED_ prefix). */
export function keywordOf(tag: Tag): string | undefined {
  if (isPrivateTag(tag)) return undefined;
  const name = meta.dictionary[hex8(tag)]?.name;
  if (name === undefined) return undefined;
  return name.startsWith(RETIRED_PREFIX) ? name.slice(RETIRED_PREFIX.length) : name;
}

/** The tag of a PS3.6 keyword (the first group of a repeating group), or undefined. */
export function tagOfKeyword(keyword: string): number | undefined {
  const entry = meta.nameMap[keyword] ?? meta.nameMap[RETIRED_PREFIX + keyword];
  if (entry === undefined) return undefined;
  const match = /^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$/.exec(entry.tag);
  if (match === null) return undefined;
  return (Number.parseInt(match[1]!, 16) * 0x10000 + Number.parseInt(match[2]!, 16)) >>> 0;
}
