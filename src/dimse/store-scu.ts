/**
 * A C-STORE SCU association for C-MOVE sub-operations (PS3.4 C.4.2.3): Veil's own socket
 * (TCP_NODELAY, optional TLS) driving dcmjs-dimse's Network, proposing exactly the transfer
 * syntaxes the instances are stored in, so their bytes go out unchanged.
 */
import net from 'node:net';
import tls from 'node:tls';
import { association as dimseAssociation, Scp } from 'dcmjs-dimse';
import { VeilError } from '../errors';
import { TransferSyntax } from '../dicom/tags';
// Each command parsed on its own (dcmjs-dimse re-parsed every earlier dataset-less one).
import './command-stream';
import { writeStoreRequestsDirectly } from './pdata-writer';
import type { OutgoingInstance } from './raw-dataset';
import { sendStore, type MoveOriginator, type RequestSender } from './store-sender';

/**
 * dcmjs-dimse exports the SCP but not its base class Network, which is also the requestor side
 * of an association; Client would open its own socket (no noDelay) and propose Implicit and
 * Explicit VR LE for every request, which forces a dcmjs transcode.
 */
const Network = Object.getPrototypeOf(Scp) as new (
  socket: net.Socket,
  opts: Record<string, unknown>,
) => RequestSender & {
  on(event: string, listener: (...args: never[]) => void): void;
  sendAssociationRequest(association: unknown): void;
  sendAssociationReleaseRequest(): void;
  sendAbort(): void;
};

/** One SOP class and transfer syntax the association must carry. */
export interface StoreContext {
  sopClassUID: string;
  transferSyntaxUID: string;
}

/** Where and how to open the association. */
export interface StoreScuOptions {
  host: string;
  port: number;
  callingAeTitle: string;
  calledAeTitle: string;
  contexts: readonly StoreContext[];
  /** Idle timeout of the association (connect, A-ASSOCIATE-AC, each response). */
  timeoutSeconds: number;
  /** TLS options when the peer speaks DICOM TLS (PS3.15 B.1). */
  tls?: tls.ConnectionOptions;
}

/** Native syntaxes that Veil can re-encode as Explicit VR LE when the peer refuses them. */
const RECODABLE = new Set<string>([
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
]);
/** PS3.8 9.3.2.2: presentation context ids are odd numbers 1..255. */
const MAX_CONTEXTS = 128;

/** An open C-STORE association; store() one instance at a time, then release(). */
export class StoreAssociation {
  private constructor(
    private readonly network: InstanceType<typeof Network>,
    private readonly socket: net.Socket,
    private readonly closed: Promise<void>,
    private readonly originator?: MoveOriginator,
  ) {}

  /** Connects, negotiates and resolves once the peer accepted; rejects with VEIL_E_DIMSE_PEER_UNAVAILABLE. */
  static open(options: StoreScuOptions, originator?: MoveOriginator): Promise<StoreAssociation> {
    const association = new dimseAssociation.Association(
      options.callingAeTitle,
      options.calledAeTitle,
    );
    const proposed = new Set<string>();
    const propose = (sopClassUID: string, syntax: string): void => {
      const key = `${sopClassUID}|${syntax}`;
      if (proposed.has(key) || proposed.size >= MAX_CONTEXTS) return;
      proposed.add(key);
      const id = association.addPresentationContext(sopClassUID);
      association.addTransferSyntaxToPresentationContext(id, syntax);
    };
    for (const c of options.contexts) propose(c.sopClassUID, c.transferSyntaxUID);
    // Fallback contexts: a peer that refuses a native syntax still gets the instance as Explicit VR LE.
    for (const c of options.contexts) {
      if (RECODABLE.has(c.transferSyntaxUID))
        propose(c.sopClassUID, TransferSyntax.ExplicitVRLittleEndian);
    }
    const timeout = options.timeoutSeconds * 1000;
    const socket = options.tls
      ? tls.connect({ host: options.host, port: options.port, ...options.tls })
      : net.connect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    const network = new Network(socket, {
      connectTimeout: timeout,
      associationTimeout: timeout,
      pduTimeout: timeout,
    });
    writeStoreRequestsDirectly(network);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return new Promise<StoreAssociation>((resolve, reject) => {
      const fail = (why: string) => {
        socket.destroy();
        reject(
          new VeilError(
            'VEIL_E_DIMSE_PEER_UNAVAILABLE',
            `${options.calledAeTitle.trim()} at ${options.host}:${options.port}: ${why}`,
          ),
        );
      };
      socket.once(options.tls ? 'secureConnect' : 'connect', () =>
        network.sendAssociationRequest(association),
      );
      network.on('associationAccepted', () =>
        resolve(new StoreAssociation(network, socket, closed, originator)),
      );
      network.on('associationRejected', () => fail('association rejected'));
      network.on('networkError', (err: Error) => fail(err.message));
      network.on('abort', () => fail('association aborted'));
      void closed.then(() => fail('connection closed'));
    });
  }

  /** Sends one instance; resolves with the peer's C-STORE status (0x0000 success, 0xBxxx warning). */
  store(instance: OutgoingInstance): Promise<number> {
    return sendStore(this.network, instance, this.closed, this.originator);
  }

  /** True once the socket closed: further stores cannot succeed. */
  isClosed(): boolean {
    return this.socket.destroyed;
  }

  /** A-RELEASE (PS3.8 7.2), then closes the socket; resolves once closed. Safe to call twice. */
  async release(): Promise<void> {
    if (!this.socket.destroyed) {
      this.network.on('associationReleaseResponse', () => this.socket.end());
      this.network.sendAssociationReleaseRequest();
    }
    await this.closed;
  }

  /** A-ABORT and close, for errors and cancellation. */
  abort(): void {
    if (!this.socket.destroyed) {
      this.network.sendAbort();
      this.socket.destroy();
    }
  }
}
