/**
 * A guard on the PDU lengths a peer declares (PS3.8 9.3.1: type, reserved, 32-bit length). dcmjs-
 * dimse buffers a PDU until its declared length arrived, re-concatenating on every chunk, so one
 * A-ASSOCIATE-RQ declaring 4 GiB would grow memory and CPU until the idle timeout. Veil never
 * accepts a PDU longer than the maximum it announces, and aborts the association instead.
 */
import type net from 'node:net';

/** The largest PDU Veil reads: dcmjs-dimse's announced Maximum Length (PS3.8 D.1), 256 KiB. */
export const MAX_PDU_BYTES = 262_144;

/** A-ABORT from the service provider, reason 6 "invalid PDU parameter value" (PS3.8 9.3.8). */
const ABORT_INVALID_PARAMETER = Buffer.from([0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6]);

/**
 * Watches the bytes of `socket` ahead of dcmjs-dimse's reader (a prepended 'data' listener) and
 * sends A-ABORT and closes the connection at the first PDU declaring more than `maxPduBytes`.
 * `onViolation` is called once, for the log.
 */
export function guardPduLengths(
  socket: net.Socket,
  onViolation: (declared: number) => void,
  maxPduBytes = MAX_PDU_BYTES,
): void {
  /** Bytes of the current PDU body still to skip; header bytes gathered so far. */
  let remaining = 0;
  let header = Buffer.alloc(0);
  let tripped = false;
  socket.prependListener('data', (chunk: Buffer) => {
    let at = 0;
    while (!tripped && at < chunk.length) {
      if (remaining > 0) {
        const skip = Math.min(remaining, chunk.length - at);
        remaining -= skip;
        at += skip;
        continue;
      }
      const need = 6 - header.length;
      header = Buffer.concat([header, chunk.subarray(at, at + need)]);
      at += Math.min(need, chunk.length - at);
      if (header.length < 6) return;
      const declared = header.readUInt32BE(2);
      header = Buffer.alloc(0);
      if (declared > maxPduBytes) {
        tripped = true;
        onViolation(declared);
        // Stop reading (dcmjs-dimse sees no more), say why, close once the abort left. Not end():
        // a half-closed socket keeps taking the peer's bytes until it stops sending.
        socket.pause();
        socket.write(ABORT_INVALID_PARAMETER, () => socket.destroy());
        return;
      }
      remaining = declared;
    }
  });
}
