/**
 * The dicom core: parse Part 10 (any native or encapsulated transfer syntax), write Explicit VR
 * Little Endian, compare data sets, read pixel geometry, group fragments and decode RLE.
 */
export * from './data-set';
export * from './tags';
export { parseFileMeta, parsePart10, type ParsedInstance, type ParseOptions } from './parse';
export {
  writePart10,
  encodeDataSet,
  encodeElement,
  decodeDataSet,
  VEIL_IMPLEMENTATION_CLASS_UID,
  VEIL_IMPLEMENTATION_VERSION_NAME,
} from './write';
export { diffDataSets, type DiffOptions } from './compare';
export { readGeometry, type PixelGeometry } from './geometry';
export { isEncapsulated, isKnownTransferSyntax, transferSyntaxName } from './transfer-syntax';
export { framesOfFragments } from './encapsulated';
export { decodeRle } from './rle';
export { vrOf, keywordOf, tagOfKeyword } from './dictionary';
