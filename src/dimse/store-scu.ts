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

/** One presentation context to propose: an abstract syntax, its transfer syntaxes, and roles. */
export interface ProposedContext {
  abstractSyntaxUID: string;
  transferSyntaxUIDs: readonly string[];
  /**
   * SCU/SCP Role Selection (PS3.7 D.3.3.4): propose that Veil, the requestor, is the SCP of this
   * SOP class (storage commitment reports); absent keeps the default roles.
   */
  requestorIsScp?: boolean;
}

/** Where and how to open an association proposing `contexts`. */
export interface AssociationOptions extends Omit<StoreScuOptions, 'contexts'> {
  contexts: readonly ProposedContext[];
}

/** An accepted association Veil requested: its Network, socket, and when it closed. */
export interface RequestedAssociation {
  network: InstanceType<typeof Network>;
  socket: net.Socket;
  closed: Promise<void>;
}

/**
 * Connects (TCP_NODELAY, optional TLS), proposes the contexts and resolves once the peer accepted
 * the association; rejects with VEIL_E_DIMSE_PEER_UNAVAILABLE (refused, rejected, dropped).
 */
export function requestAssociation(options: AssociationOptions): Promise<RequestedAssociation> {
  const association = new dimseAssociation.Association(
    options.callingAeTitle,
    options.calledAeTitle,
  );
  for (const c of options.contexts.slice(0, MAX_CONTEXTS)) {
    const id = association.addPresentationContext(c.abstractSyntaxUID);
    for (const ts of c.transferSyntaxUIDs)
      association.addTransferSyntaxToPresentationContext(id, ts);
    if (c.requestorIsScp) {
      const context = association.getPresentationContext(id);
      context.setUserRole(false);
      context.setProviderRole(true);
    }
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
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return new Promise<RequestedAssociation>((resolve, reject) => {
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
    network.on('associationAccepted', () => resolve({ network, socket, closed }));
    network.on('associationRejected', () => fail('association rejected'));
    network.on('networkError', (err: Error) => fail(err.message));
    network.on('abort', () => fail('association aborted'));
    void closed.then(() => fail('connection closed'));
  });
}

/** A-RELEASE (PS3.8 7.2) of a requested association, then closes its socket; resolves once closed. */
export async function releaseAssociation(opened: RequestedAssociation): Promise<void> {
  if (!opened.socket.destroyed) {
    opened.network.on('associationReleaseResponse', () => opened.socket.end());
    opened.network.sendAssociationReleaseRequest();
  }
  await opened.closed;
}

/** An open C-STORE association; store() one instance at a time, then release(). */
export class StoreAssociation {
  private constructor(
    private readonly network: InstanceType<typeof Network>,
    private readonly socket: net.Socket,
    private readonly closed: Promise<void>,
    private readonly originator?: MoveOriginator,
  ) {}

  /** Connects, negotiates and resolves once the peer accepted; rejects with VEIL_E_DIMSE_PEER_UNAVAILABLE. */
  static async open(
    options: StoreScuOptions,
    originator?: MoveOriginator,
  ): Promise<StoreAssociation> {
    const contexts: ProposedContext[] = [];
    const proposed = new Set<string>();
    const propose = (sopClassUID: string, syntax: string): void => {
      const key = `${sopClassUID}|${syntax}`;
      if (proposed.has(key)) return;
      proposed.add(key);
      contexts.push({ abstractSyntaxUID: sopClassUID, transferSyntaxUIDs: [syntax] });
    };
    for (const c of options.contexts) propose(c.sopClassUID, c.transferSyntaxUID);
    // Fallback contexts: a peer that refuses a native syntax still gets the instance as Explicit VR LE.
    for (const c of options.contexts) {
      if (RECODABLE.has(c.transferSyntaxUID))
        propose(c.sopClassUID, TransferSyntax.ExplicitVRLittleEndian);
    }
    const opened = await requestAssociation({ ...options, contexts });
    writeStoreRequestsDirectly(opened.network);
    return new StoreAssociation(opened.network, opened.socket, opened.closed, originator);
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
  release(): Promise<void> {
    return releaseAssociation({ network: this.network, socket: this.socket, closed: this.closed });
  }

  /** A-ABORT and close, for errors and cancellation. */
  abort(): void {
    if (!this.socket.destroyed) {
      this.network.sendAbort();
      this.socket.destroy();
    }
  }
}
