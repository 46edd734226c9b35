/**
 * P-DATA-TF PDUs that Veil writes itself (PS3.7 6.3.1, PS3.8 9.3.5) on the hot paths of DIMSE:
 * the C-STORE-RSP of every received instance and the C-STORE-RQ of every instance Veil sends
 * (C-MOVE and C-GET sub-operations). dcmjs-dimse encodes each command through dcmjs and copies
 * every PDV of a data set twice into fresh buffers; for a C-MOVE of 200 CT slices that was most of
 * the gateway's CPU. Commands are Implicit VR Little Endian, elements in ascending tag order.
 */
import type { Socket } from 'node:net';
import { RawDataset } from './raw-dataset';

/** dcmjs-dimse never sends a PDU larger than this, whatever the peer accepts. */
const MAX_PDU_CAP = 4 * 1024 * 1024;

/** One command element (group 0000) in Implicit VR Little Endian: tag, 32-bit length, value. */
export function commandElement(element: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0000, 0);
  head.writeUInt16LE(element, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

/** A US value. */
export function us(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value & 0xffff, 0);
  return b;
}

/** Text padded to even length (PS3.5 6.2): UI with NUL, other strings with a space. */
export function padded(text: string, pad: string): Buffer {
  return Buffer.from(text.length % 2 === 0 ? text : text + pad, 'latin1');
}

/**
 * A whole command in one P-DATA-TF PDU: (0000,0000) group length first, then `elements` (already
 * in ascending tag order); one PDV whose control header says command, last fragment.
 */
export function commandPdu(contextId: number, elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  const command = Buffer.concat([commandElement(0x0000, groupLength), body]);
  return Buffer.concat([pduHeader(contextId, command.length, 0x03), command]);
}

/**
 * PDU type 04, reserved, PDU length; one PDV item: its length, the presentation context id and
 * the message control header (bit 0 command, bit 1 last fragment).
 */
function pduHeader(contextId: number, valueLength: number, control: number): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt8(0x04, 0);
  head.writeUInt32BE(6 + valueLength, 2);
  head.writeUInt32BE(2 + valueLength, 6);
  head.writeUInt8(contextId, 10);
  head.writeUInt8(control, 11);
  return head;
}

/**
 * Writes `data` as data PDVs of at most maxPduLength - 6 bytes each (the PDV item's length and
 * header count against the peer's maximum), one PDV per PDU as dcmjs-dimse does, the slices
 * written as views of `data` (no copy). Returns the bytes written.
 */
export function writeDataPdus(
  socket: Socket,
  contextId: number,
  data: Buffer,
  maxPduLength: number,
): number {
  const limit = maxPduLength === 0 ? MAX_PDU_CAP : Math.min(maxPduLength, MAX_PDU_CAP);
  const step = limit - 6;
  let sent = 0;
  for (let at = 0; at < data.length || at === 0; at += step) {
    const slice = data.subarray(at, Math.min(at + step, data.length));
    const last = at + step >= data.length;
    socket.write(pduHeader(contextId, slice.length, last ? 0x02 : 0x00));
    socket.write(slice);
    sent += 12 + slice.length;
    if (last) break;
  }
  return sent;
}

/** Command elements of a C-STORE-RQ as dcmjs-dimse names them: element number and how to encode. */
const STORE_REQUEST_ELEMENTS: Record<string, [number, (value: unknown) => Buffer]> = {
  AffectedSOPClassUID: [0x0002, (v) => padded(String(v), '\0')],
  CommandField: [0x0100, (v) => us(Number(v))],
  MessageID: [0x0110, (v) => us(Number(v))],
  Priority: [0x0700, (v) => us(Number(v))],
  CommandDataSetType: [0x0800, (v) => us(Number(v))],
  AffectedSOPInstanceUID: [0x1000, (v) => padded(String(v), '\0')],
  MoveOriginatorApplicationEntityTitle: [0x1030, (v) => padded(String(v), ' ')],
  MoveOriginatorMessageID: [0x1031, (v) => us(Number(v))],
};

/** What _sendPDataTF receives from dcmjs-dimse: the request (command and data set). */
interface OutgoingRequest {
  getCommandDataset(): { getElements(): Record<string, unknown> };
  getDataset(): unknown;
}

/** The command elements of a C-STORE-RQ, or undefined for any other command or an unknown element. */
function storeRequestElements(request: OutgoingRequest): Buffer[] | undefined {
  const elements = request.getCommandDataset().getElements();
  if (elements.CommandField !== 0x0001) return undefined;
  const encoded: Array<[number, Buffer]> = [];
  for (const [name, value] of Object.entries(elements)) {
    const known = STORE_REQUEST_ELEMENTS[name];
    if (known === undefined || value === undefined || value === null) return undefined;
    encoded.push([known[0], commandElement(known[0], known[1](value))]);
  }
  return encoded.sort((a, b) => a[0] - b[0]).map(([, bytes]) => bytes);
}

/** The dcmjs-dimse Network internals the writer replaces and uses (present in 0.3.x). */
interface SendInternals {
  socket: Socket;
  statistics?: { addBytesSent(n: number): void };
  _sendPDataTF(request: OutgoingRequest, contextId: number, maxPduLength: number): void;
}

/**
 * Makes `network` (a dcmjs-dimse Network: Veil's C-STORE SCU or its SCP, which sends C-GET
 * sub-operations) write C-STORE-RQs of exact-bytes data sets itself; every other message still
 * goes through dcmjs-dimse. The bytes on the wire are the same; only the copies are gone.
 */
export function writeStoreRequestsDirectly(network: object): void {
  const internals = network as SendInternals;
  const original = internals._sendPDataTF;
  if (typeof original !== 'function') return;
  internals._sendPDataTF = function (
    this: SendInternals,
    request: OutgoingRequest,
    contextId: number,
    maxPduLength: number,
  ): void {
    const dataset = request.getDataset();
    const elements = dataset instanceof RawDataset ? storeRequestElements(request) : undefined;
    if (elements === undefined || !(dataset instanceof RawDataset)) {
      original.call(this, request, contextId, maxPduLength);
      return;
    }
    const command = commandPdu(contextId, elements);
    this.socket.cork();
    this.socket.write(command);
    const sent = writeDataPdus(this.socket, contextId, dataset.rawBytes(), maxPduLength);
    this.socket.uncork();
    this.statistics?.addBytesSent(command.length + sent);
  };
}
