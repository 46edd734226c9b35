/**
 * Transfer syntaxes Veil recognises (PS3.5 Section 10, PS3.6 Annex A): which are native,
 * which encapsulate their Pixel Data (PS3.5 A.4), and their names for messages.
 */
import { TransferSyntax } from './tags';

/** Native (unencapsulated) transfer syntaxes: Pixel Data is one plain value. */
const NATIVE: Readonly<Record<string, string>> = {
  [TransferSyntax.ImplicitVRLittleEndian]: 'Implicit VR Little Endian',
  [TransferSyntax.ExplicitVRLittleEndian]: 'Explicit VR Little Endian',
  [TransferSyntax.DeflatedExplicitVRLittleEndian]: 'Deflated Explicit VR Little Endian',
  [TransferSyntax.ExplicitVRBigEndian]: 'Explicit VR Big Endian (retired)',
  // JPIP referenced syntaxes carry no Pixel Data at all, only a URL (PS3.5 A.6).
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
  '1.2.840.10008.1.2.4.95': 'JPIP Referenced Deflate',
};

/** Encapsulated transfer syntaxes: Pixel Data is a sequence of fragments (PS3.5 A.4). */
const ENCAPSULATED: Readonly<Record<string, string>> = {
  [TransferSyntax.JPEGBaseline8Bit]: 'JPEG Baseline (Process 1)',
  [TransferSyntax.JPEGExtended12Bit]: 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.52': 'JPEG Extended (Process 3 & 5) (retired)',
  '1.2.840.10008.1.2.4.53': 'JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8) (retired)',
  '1.2.840.10008.1.2.4.54': 'JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9) (retired)',
  '1.2.840.10008.1.2.4.55': 'JPEG Full Progression, Non-Hierarchical (Process 10 & 12) (retired)',
  '1.2.840.10008.1.2.4.56': 'JPEG Full Progression, Non-Hierarchical (Process 11 & 13) (retired)',
  [TransferSyntax.JPEGLossless]: 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.58': 'JPEG Lossless, Non-Hierarchical (Process 15) (retired)',
  [TransferSyntax.JPEGLosslessSV1]: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction',
  [TransferSyntax.JPEGLSLossless]: 'JPEG-LS Lossless',
  [TransferSyntax.JPEGLSNearLossless]: 'JPEG-LS Lossy (Near-Lossless)',
  [TransferSyntax.JPEG2000Lossless]: 'JPEG 2000 (Lossless Only)',
  [TransferSyntax.JPEG2000]: 'JPEG 2000',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component (Lossless Only)',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.101': 'MPEG2 Main Profile / High Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile / Level 5.1',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 Main 10 Profile / Level 5.1',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG Recompression',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
  [TransferSyntax.RLELossless]: 'RLE Lossless',
  '1.2.840.10008.1.2.8.1': 'Deflated Image Frame Compression',
};

/** True when Pixel Data in this transfer syntax is encapsulated in fragments (PS3.5 A.4). */
export function isEncapsulated(transferSyntaxUID: string): boolean {
  return Object.hasOwn(ENCAPSULATED, transferSyntaxUID);
}

/** True for the standard transfer syntaxes Veil can parse (native or encapsulated). */
export function isKnownTransferSyntax(uid: string): boolean {
  return Object.hasOwn(NATIVE, uid) || Object.hasOwn(ENCAPSULATED, uid);
}

/** The PS3.6 name of a transfer syntax, or "unknown transfer syntax <uid>". */
export function transferSyntaxName(uid: string): string {
  return NATIVE[uid] ?? ENCAPSULATED[uid] ?? `unknown transfer syntax ${uid}`;
}

/** The media type of a compressed transfer syntax's frames (PS3.18 Table 8.7.3-5). */
const FRAME_MEDIA_TYPES: Readonly<Record<string, string>> = {
  [TransferSyntax.JPEGBaseline8Bit]: 'image/jpeg',
  [TransferSyntax.JPEGExtended12Bit]: 'image/jpeg',
  [TransferSyntax.JPEGLossless]: 'image/jpeg',
  [TransferSyntax.JPEGLosslessSV1]: 'image/jpeg',
  [TransferSyntax.JPEGLSLossless]: 'image/jls',
  [TransferSyntax.JPEGLSNearLossless]: 'image/jls',
  [TransferSyntax.JPEG2000Lossless]: 'image/jp2',
  [TransferSyntax.JPEG2000]: 'image/jp2',
  '1.2.840.10008.1.2.4.92': 'image/jpx',
  '1.2.840.10008.1.2.4.93': 'image/jpx',
  '1.2.840.10008.1.2.4.110': 'image/jxl',
  '1.2.840.10008.1.2.4.111': 'image/jxl',
  '1.2.840.10008.1.2.4.112': 'image/jxl',
  '1.2.840.10008.1.2.4.201': 'image/jphc',
  '1.2.840.10008.1.2.4.202': 'image/jphc',
  '1.2.840.10008.1.2.4.203': 'image/jphc',
  [TransferSyntax.RLELossless]: 'image/dicom-rle',
};

/** The media type of a compressed syntax's frames in DICOMweb (image/jpeg...), or undefined (video, deflated frames). */
export function frameMediaType(uid: string): string | undefined {
  return Object.hasOwn(FRAME_MEDIA_TYPES, uid) ? FRAME_MEDIA_TYPES[uid] : undefined;
}
