import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Dataset, Scp, log as dimseLog, requests } from 'dcmjs-dimse';
import { writeStoreRequestsDirectly } from '../../src/dimse/pdata-writer';
import { RawDataset } from '../../src/dimse/raw-dataset';

/** A socket that records what is written to it, in order. */
function recordingSocket(): { socket: Socket; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const socket = {
    write: (chunk: Buffer) => (chunks.push(Buffer.from(chunk)), true),
    cork: () => undefined,
    uncork: () => undefined,
    on: () => socket,
    once: () => socket,
    setTimeout: () => socket,
  };
  return { socket: socket as unknown as Socket, bytes: () => Buffer.concat(chunks) };
}

/** dcmjs-dimse's Network (the SCP's base class), bound to a recording socket. */
const Network = Object.getPrototypeOf(Scp) as new (
  socket: Socket,
  opts: Record<string, unknown>,
) => object;

type SendPDataTF = (request: unknown, contextId: number, maxPduLength: number) => void;

function sent(direct: boolean, request: unknown, contextId: number, maxPdu: number): Buffer {
  const { socket, bytes } = recordingSocket();
  const network = new Network(socket, {});
  if (direct) writeStoreRequestsDirectly(network);
  const internals = network as unknown as { _sendPDataTF: SendPDataTF; _reset(): void };
  internals._sendPDataTF(request, contextId, maxPdu);
  // A Network runs a timeout interval until its socket closes; this socket never does.
  internals._reset();
  return bytes();
}

function storeRequest(data: Buffer, originator: boolean) {
  const dataset = new RawDataset(
    data,
    '1.2.840.10008.1.2.1',
    '1.2.840.10008.5.1.4.1.1.2',
    '1.2.3.4.5',
  );
  const request = new requests.CStoreRequest(dataset);
  request.setMessageId(9);
  if (originator) {
    const command = request.getCommandDataset();
    command.setElement('MoveOriginatorApplicationEntityTitle', 'MOVESCU');
    command.setElement('MoveOriginatorMessageID', 3 as unknown as string);
  }
  return request;
}

describe('dimse/pdata-writer C-STORE-RQ', () => {
  // dcmjs-dimse logs every PDU at info level; the gateway silences it in startDimseServer.
  before(() => dimseLog.setLevel('silent'));

  it('writes byte for byte what dcmjs-dimse writes, for several PDU sizes and data lengths', () => {
    for (const [length, maxPdu] of [
      [100_000, 16_384],
      [16_378, 16_384], // exactly one full PDV
      [16_379, 16_384], // one byte into a second PDV
      [2, 0], // 0: the peer set no limit
      [300_000, 65_536],
    ] as const) {
      for (const originator of [false, true]) {
        const data = randomBytes(length);
        const direct = sent(true, storeRequest(data, originator), 5, maxPdu);
        const viaDcmjs = sent(false, storeRequest(data, originator), 5, maxPdu);
        assert.ok(direct.equals(viaDcmjs), `length ${length}, max PDU ${maxPdu}`);
      }
    }
  });

  it('leaves other requests and data sets dcmjs-dimse encodes to dcmjs-dimse', () => {
    const plain = new requests.CStoreRequest(
      new Dataset(
        { SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', SOPInstanceUID: '1.2.3' },
        '1.2.840.10008.1.2.1',
      ),
    );
    plain.setMessageId(4);
    const echo = new requests.CEchoRequest();
    echo.setMessageId(5);
    for (const request of [plain, echo]) {
      assert.ok(sent(true, request, 1, 16_384).equals(sent(false, request, 1, 16_384)));
    }
  });
});
