/**
 * P-DATA-TF PDUs that Veil writes itself (PS3.7 6.3.1, PS3.8 9.3.5) on the hot paths of DIMSE:
 * the C-STORE-RSP of every received instance and the C-STORE-RQ of every instance Veil sends
 * (C-MOVE and C-GET sub-operations). dcmjs-dimse encodes each command through dcmjs and copies
 * every PDV of a data set twice into fresh buffers; for a C-MOVE of 200 CT slices that was most of
 * the gateway's CPU. Commands are Implicit VR Little Endian, elements in ascending tag order.
 */
import type { Socket } from 'node:net';
import { type Element, bytesElement, textElement, usElement } from '../dicom/data-set';
import { RawDataset } from './raw-dataset';

/** dcmjs-dimse never sends a PDU larger than this, whatever the peer accepts. */
const MAX_PDU_CAP = 4 * 1024 * 1024;

/** One command element (group 0000) in Implicit VR Little Endian: tag, 32-bit length, value. */
function commandElement(element: Element): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0000, 0);
  head.writeUInt16LE(element.tag & 0xffff, 2);
  head.writeUInt32LE(element.value?.length ?? 0, 4);
  return element.value ? Buffer.concat([head, element.value]) : head;
}

/** A US command element (the value kept to 16 bits, as dcmjs-dimse writes it). */
export function commandUs(element: number, value: number): Element {
  return usElement(element, value & 0xffff);
}

/**
 * A whole command in one P-DATA-TF PDU: (0000,0000) group length first, then `elements` (already
 * in ascending tag order); one PDV whose control header says command, last fragment.
 */
export function commandPdu(contextId: number, elements: Element[]): Buffer {
  const body = Buffer.concat(elements.map(commandElement));
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  const command = Buffer.concat([commandElement(bytesElement(0x0000, 'UL', groupLength)), body]);
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

/** Command elements of a C-STORE-RQ as dcmjs-dimse names them, made from its values. */
const STORE_REQUEST_ELEMENTS: Record<string, (value: unknown) => Element> = {
  AffectedSOPClassUID: (v) => textElement(0x0002, 'UI', String(v)),
  CommandField: (v) => commandUs(0x0100, Number(v)),
  MessageID: (v) => commandUs(0x0110, Number(v)),
  Priority: (v) => commandUs(0x0700, Number(v)),
  CommandDataSetType: (v) => commandUs(0x0800, Number(v)),
  AffectedSOPInstanceUID: (v) => textElement(0x1000, 'UI', String(v)),
  MoveOriginatorApplicationEntityTitle: (v) => textElement(0x1030, 'AE', String(v)),
  MoveOriginatorMessageID: (v) => commandUs(0x1031, Number(v)),
};

/** What _sendPDataTF receives from dcmjs-dimse: the request (command and data set). */
interface OutgoingRequest {
  getCommandDataset(): { getElements(): Record<string, unknown> };
  getDataset(): unknown;
}

/** The command elements of a C-STORE-RQ, or undefined for any other command or an unknown element. */
function storeRequestElements(request: OutgoingRequest): Element[] | undefined {
  const elements = request.getCommandDataset().getElements();
  if (elements.CommandField !== 0x0001) return undefined;
  const encoded: Element[] = [];
  for (const [name, value] of Object.entries(elements)) {
    const make = STORE_REQUEST_ELEMENTS[name];
    if (make === undefined || value === undefined || value === null) return undefined;
    encoded.push(make(value));
  }
  return encoded.sort((a, b) => a.tag - b.tag);
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
    if (elements === undefined) {
      original.call(this, request, contextId, maxPduLength);
      return;
    }
    const command = commandPdu(contextId, elements);
    this.socket.cork();
    this.socket.write(command);
    const bytes = (dataset as RawDataset).rawBytes();
    const sent = writeDataPdus(this.socket, contextId, bytes, maxPduLength);
    this.socket.uncork();
    this.statistics?.addBytesSent(command.length + sent);
  };
}
