/** Builds STOW-RS bodies and reads WADO-RS replies with Veil's own multipart codec. */
import { Readable } from 'node:stream';
import {
  boundaryOf,
  closing,
  newBoundary,
  partHead,
  readMultipart,
} from '../../src/http/multipart';

/** One part to send: its bytes and (default application/dicom) content type. */
export interface OutgoingPart {
  bytes: Buffer;
  type?: string;
}

/** A multipart/related body and its Content-Type header. */
export function multipartBody(parts: OutgoingPart[]): { body: Buffer; contentType: string } {
  const boundary = newBoundary();
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(partHead(boundary, { 'Content-Type': p.type ?? 'application/dicom' }), p.bytes);
  }
  chunks.push(closing(boundary));
  return {
    body: Buffer.concat(chunks),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

/** One received part, fully read. */
export interface ReceivedPart {
  headers: Record<string, string>;
  bytes: Buffer;
}

/** Reads every part of a multipart response body. */
export async function readParts(contentType: string, body: Buffer): Promise<ReceivedPart[]> {
  const out: ReceivedPart[] = [];
  for await (const part of readMultipart(Readable.from([body]), boundaryOf(contentType))) {
    const chunks: Buffer[] = [];
    for await (const chunk of part.body) chunks.push(chunk as Buffer);
    out.push({ headers: part.headers, bytes: Buffer.concat(chunks) });
  }
  return out;
}
