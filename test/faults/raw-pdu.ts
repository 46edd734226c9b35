/**
 * Raw DICOM Upper Layer PDUs (PS3.8 9.3) written byte by byte, for peers that misbehave on
 * purpose: A-ASSOCIATE-RQ (0x01), P-DATA-TF (0x04), A-RELEASE-RQ (0x05), A-ABORT (0x07), and a
 * reader that splits what the listener answers into PDUs.
 */
import net from 'node:net';

export const IMPLICIT_LE = '1.2.840.10008.1.2';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const VERIFICATION = '1.2.840.10008.1.1';
export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

/** One proposed presentation context. */
export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

const ae = (title: string) => Buffer.from(title.padEnd(16, ' ').slice(0, 16), 'latin1');
function item(type: number, body: Buffer): Buffer {
  const head = Buffer.from([type, 0, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([head, body]);
}
function pdu(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

/** A-ASSOCIATE-RQ (PS3.8 9.3.2) with the given contexts and a 16 KiB max PDU length. */
export function associateRq(called: string, calling: string, contexts: ProposedContext[]): Buffer {
  const fixed = Buffer.concat([
    Buffer.from([0, 1, 0, 0]),
    ae(called),
    ae(calling),
    Buffer.alloc(32),
  ]);
  const appContext = item(0x10, Buffer.from('1.2.840.10008.3.1.1.1'));
  const pcs = contexts.map((c) =>
    item(
      0x20,
      Buffer.concat([
        Buffer.from([c.id, 0, 0, 0]),
        item(0x30, Buffer.from(c.abstractSyntax)),
        ...c.transferSyntaxes.map((ts) => item(0x40, Buffer.from(ts))),
      ]),
    ),
  );
  const maxPdu = Buffer.alloc(4);
  maxPdu.writeUInt32BE(16384);
  const user = item(
    0x50,
    Buffer.concat([item(0x51, maxPdu), item(0x52, Buffer.from('1.2.826.0.1.3680043.9.7433.1'))]),
  );
  return pdu(0x01, Buffer.concat([fixed, appContext, ...pcs, user]));
}

/** P-DATA-TF (PS3.8 9.3.5) holding one PDV; header bit 0 = command, bit 1 = last fragment. */
export function pData(contextId: number, command: boolean, last: boolean, value: Buffer): Buffer {
  const pdv = Buffer.alloc(6);
  pdv.writeUInt32BE(value.length + 2, 0);
  pdv.writeUInt8(contextId, 4);
  pdv.writeUInt8((command ? 1 : 0) | (last ? 2 : 0), 5);
  return pdu(0x04, Buffer.concat([pdv, value]));
}

/** A-ABORT (PS3.8 9.3.8) from the service user. */
export const aAbort = (): Buffer => pdu(0x07, Buffer.from([0, 0, 0, 0]));
/** A-RELEASE-RQ (PS3.8 9.3.6). */
export const releaseRq = (): Buffer => pdu(0x05, Buffer.alloc(4));

function element(tag: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}
const uid = (text: string) => Buffer.from(text.length % 2 ? `${text}\0` : text, 'latin1');
const us = (n: number) => Buffer.from([n & 0xff, n >> 8]);

/** A C-STORE-RQ command set (PS3.7 9.3.1.1) in Implicit VR Little Endian, with group length. */
export function cStoreRq(sopClass: string, sopInstance: string, messageId = 1): Buffer {
  const body = Buffer.concat([
    element(0x00000002, uid(sopClass)),
    element(0x00000100, us(0x0001)),
    element(0x00000110, us(messageId)),
    element(0x00000700, us(0)),
    element(0x00000800, us(0x0000)),
    element(0x00001000, uid(sopInstance)),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([element(0x00000000, length), body]);
}

/** A received PDU: its type and the bytes after the 6-byte header. */
export interface Pdu {
  type: number;
  body: Buffer;
}

/** A TCP connection to the listener that collects whole PDUs and notices when it closes. */
export class RawPeer {
  private buf = Buffer.alloc(0);
  private readonly waiters: Array<() => void> = [];
  readonly pdus: Pdu[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 6 && this.buf.length >= 6 + this.buf.readUInt32BE(2)) {
        const length = this.buf.readUInt32BE(2);
        this.pdus.push({ type: this.buf[0]!, body: this.buf.subarray(6, 6 + length) });
        this.buf = this.buf.subarray(6 + length);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits (bounded) for the next PDU, or undefined once the connection closed. */
  async next(limitMs = 30_000): Promise<Pdu | undefined> {
    const until = Date.now() + limitMs;
    for (;;) {
      const p = this.pdus.shift();
      if (p) return p;
      if (this.closed) return undefined;
      if (Date.now() > until) throw new Error('no PDU from the listener in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 250);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves once the listener closed the connection (bounded). */
  async closedByPeer(limitMs = 30_000): Promise<Pdu[]> {
    const seen: Pdu[] = [];
    for (;;) {
      const p = await this.next(limitMs);
      if (!p) return seen;
      seen.push(p);
    }
  }

  /** True once the listener closed or reset the connection (writes then fail at once). */
  get gone(): boolean {
    return this.closed || this.socket.destroyed;
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Presentation context results of an A-ASSOCIATE-AC (PS3.8 9.3.3.2): id → result. */
export function contextResults(ac: Pdu): Map<number, number> {
  const out = new Map<number, number>();
  let at = 68;
  while (at + 4 <= ac.body.length) {
    const type = ac.body[at]!;
    const length = ac.body.readUInt16BE(at + 2);
    if (type === 0x21) out.set(ac.body[at + 4]!, ac.body[at + 6]!);
    at += 4 + length;
  }
  return out;
}

/** Status (0000,0900) of a DIMSE response command carried in a P-DATA-TF. */
export function responseStatus(pdata: Pdu): number | undefined {
  const command = pdata.body.subarray(6);
  let at = 0;
  while (at + 8 <= command.length) {
    const tag = (command.readUInt16LE(at) << 16) | command.readUInt16LE(at + 2);
    const length = command.readUInt32LE(at + 4);
    if (tag === 0x00000900) return command.readUInt16LE(at + 8);
    at += 8 + length;
  }
  return undefined;
}
