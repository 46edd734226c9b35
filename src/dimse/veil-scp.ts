/**
 * Veil's DIMSE service provider: one instance per socket (dcmjs-dimse's model), answering
 * C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET with the gateway deps. Every handler turns failures
 * into DIMSE statuses; nothing a peer sends can throw out of here and stop other associations.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { Scp, constants, responses, type association, type requests } from 'dcmjs-dimse';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import { AssociationContext, type OperationChannel } from './association-context';
// Each command parsed on its own (dcmjs-dimse re-parsed every earlier dataset-less one).
import './command-stream';
import { handleFind } from './find-handler';
import { receivedUids } from './identifier-uids';
import { negotiate, normalizeAddress, type AssociationPolicy } from './negotiation';
import { guardPduLengths } from './pdu-guard';
import { handleRetrieve, type SubOperationTarget } from './retrieve-handler';
import { resolveMoveDestination } from './retrieve-scope';
import { writeStoreRequestsDirectly } from './pdata-writer';
import {
  STORAGE_COMMITMENT_INSTANCE,
  STORAGE_COMMITMENT_PUSH,
  queryRetrieveModel,
} from './sop-classes';
import {
  REQUEST_COMMITMENT,
  type StorageCommitments,
  parseCommitmentRequest,
} from './storage-commitment';
import {
  createStoreStream,
  finishStoreStream,
  handleStore,
  storeResponsePdu,
} from './store-handler';
import { sendStore, type NetworkInternals, type RequestSender } from './store-sender';
import { StoreAssociation, type StoreContext } from './store-scu';
import type { SpooledDataset } from './raw-dataset';

type Association = InstanceType<typeof association.Association>;
type PresentationContext = InstanceType<typeof association.PresentationContext>;
type Req<K extends keyof typeof requests> = InstanceType<(typeof requests)[K]>;
type Res<K extends keyof typeof responses> = InstanceType<(typeof responses)[K]>;

/** What the listener shares with each SCP: the policy and the association count. */
export interface ScpHooks {
  policy: AssociationPolicy;
  /** Associations accepted and still open (this one excluded while it negotiates). */
  activeAssociations(): number;
  /** Called once when this association is accepted, and once when its socket closes. */
  associationOpened(): void;
  associationClosed(): void;
  /** The gateway's pending storage commitment transactions (shared by all associations). */
  commitments: StorageCommitments;
}

/** One association's service provider. */
export class VeilScp extends Scp {
  private readonly ctx: AssociationContext;
  private readonly operations = new Map<number, { cancelled: boolean }>();
  private readonly closed: Promise<void>;
  /** Store streams dcmjs-dimse is still writing: a peer that vanishes mid-instance leaves these. */
  private readonly openStores = new Set<import('node:stream').Writable>();
  private accepted = false;
  private socketClosed = false;

  constructor(
    private readonly socket: net.Socket,
    options: ConstructorParameters<typeof Scp>[1],
    private readonly deps: GatewayDeps,
    private readonly hooks: ScpHooks,
    id: number,
  ) {
    super(socket, options);
    // C-GET sub-operations: C-STORE-RQs written without dcmjs-dimse's copies (pdata-writer).
    writeStoreRequestsDirectly(this);
    // dcmjs-dimse's own Server sets these; without connectedTime no association timeout fires.
    const internals = this.internals();
    internals.connected = true;
    internals.connectedTime = Date.now();
    this.ctx = new AssociationContext(deps, normalizeAddress(socket.remoteAddress), id);
    guardPduLengths(socket, (declared) =>
      this.ctx.log.warn({ declared }, 'PDU longer than the maximum PDU length; aborted'),
    );
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.socketClosed = true;
        for (const op of this.operations.values()) op.cancelled = true;
        if (this.accepted) {
          this.accepted = false;
          this.hooks.associationClosed();
        }
        this.ctx.flushStoredAudit();
        this.discardOpenStores();
        resolve();
      }),
    );
    // An idle timeout of an accepted association is told with an A-ABORT (PS3.8 7.3) before
    // dcmjs-dimse's own timeout handler has the socket destroyed.
    socket.prependListener('timeout', () => {
      if (this.accepted && !socket.destroyed) this.sendAbort();
    });
  }

  /**
   * The peer aborted or dropped the association in the middle of an instance: nothing was
   * acknowledged, so its half-written spool temp file must not stay behind.
   */
  private discardOpenStores(): void {
    for (const stream of this.openStores) {
      const file = (stream as Partial<import('node:fs').WriteStream>).path;
      const remove = () => {
        if (typeof file === 'string') fs.rm(file, { force: true }, () => undefined);
      };
      if (stream.closed) remove();
      else {
        stream.once('close', remove);
        stream.destroy();
      }
    }
    this.openStores.clear();
  }

  /** True while an accepted association is open on this socket. */
  isAssociated(): boolean {
    return this.accepted;
  }

  private internals(): NetworkInternals {
    return this as unknown as NetworkInternals;
  }

  override associationRequested(association: Association): void {
    this.ctx.identify(association.getCallingAeTitle());
    const outcome = negotiate(association, this.hooks.policy, {
      address: this.ctx.address,
      activeAssociations: this.hooks.activeAssociations(),
    });
    if (!outcome.accepted) {
      const { result, source, reason, why, security } = outcome.reject;
      this.ctx.log.warn({ why }, 'association rejected');
      if (security) {
        this.deps.metrics.failures.inc({ code: 'VEIL_E_DIMSE_AE_REJECTED', stage: 'auth' });
        this.ctx.audit({
          type: 'SecurityAlert',
          action: 'E',
          outcome: 'minor-failure',
          errorCode: 'VEIL_E_DIMSE_AE_REJECTED',
        });
      }
      this.sendAssociationReject(result, source, reason);
      // PS3.8 9.1.3: the requestor closes after A-ASSOCIATE-RJ; end our side too (no lingering).
      this.socket.end();
      return;
    }
    this.accepted = true;
    this.hooks.associationOpened();
    this.ctx.log.info('association accepted');
    this.sendAssociationAccept();
  }

  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
    this.ctx.log.info('association released');
    this.socket.end();
  }

  override abort(): void {
    this.ctx.log.warn('association aborted by the peer');
    this.socket.destroy();
  }

  override cEchoRequest(request: Req<'CEchoRequest'>, callback: (r: Res<'CEchoResponse'>) => void) {
    const response = responses.CEchoResponse.fromRequest(request);
    response.setStatus(constants.Status.Success);
    callback(response);
  }

  override createStoreWritableStream(context: PresentationContext, request: Req<'CStoreRequest'>) {
    const stream = createStoreStream(this.ctx, context, request);
    this.openStores.add(stream);
    return stream;
  }

  override createDatasetFromStoreWritableStream(
    writable: import('node:stream').Writable,
    context: PresentationContext,
    callback: (dataset: SpooledDataset) => void,
  ): void {
    // The whole data set arrived: from here on handleStore owns the temp file.
    this.openStores.delete(writable);
    finishStoreStream(writable, context, callback);
  }

  override cStoreRequest(
    request: Req<'CStoreRequest'>,
    callback: (r: Res<'CStoreResponse'>) => void,
  ) {
    handleStore(this.ctx, request).then(
      (response) => this.sendStoreResponse(request, response, callback),
      (err: unknown) => {
        const response = responses.CStoreResponse.fromRequest(request);
        response.setStatus(this.ctx.failure(err, 'intake', 'C-STORE').status);
        this.sendStoreResponse(request, response, callback);
      },
    );
  }

  /**
   * Writes the C-STORE-RSP PDU ourselves (see storeResponsePdu: dcmjs-dimse's encoder was the
   * largest CPU cost of an acknowledgement); falls back to dcmjs-dimse without a known context.
   */
  private sendStoreResponse(
    request: Req<'CStoreRequest'>,
    response: Res<'CStoreResponse'>,
    callback: (r: Res<'CStoreResponse'>) => void,
  ): void {
    // The response echoes the request's UIDs as sent, not as dcmjs read them (fromRequest).
    const [sopClass, sopInstance] = receivedUids(request.getCommandDataset(), [0x0002, 0x1000]);
    if (sopClass !== undefined) response.setAffectedSopClassUid(sopClass);
    if (sopInstance !== undefined) response.setAffectedSopInstanceUid(sopInstance);
    const association = this.internals().association as unknown as Association | undefined;
    const context = association?.getAcceptedPresentationContextFromRequest(request);
    if (!context) {
      callback(response);
      return;
    }
    if (this.socketClosed || this.socket.destroyed) return;
    this.socket.write(storeResponsePdu(context.getPresentationContextId(), response));
  }

  override cFindRequest(
    request: Req<'CFindRequest'>,
    callback: (r: Res<'CFindResponse'>[]) => void,
  ) {
    const model = queryRetrieveModel(request.getAffectedSopClassUid())?.model ?? 'STUDY';
    const channel = this.channel(request);
    this.run(request, handleFind(this.ctx, request, model, channel), () => callback([]));
  }

  override cMoveRequest(
    request: Req<'CMoveRequest'>,
    callback: (r: Res<'CMoveResponse'>[]) => void,
  ) {
    const model = queryRetrieveModel(request.getAffectedSopClassUid())?.model ?? 'STUDY';
    const channel = this.channel(request);
    const destinationAe = String(request.getCommandDataset().getElement('MoveDestination') ?? '');
    const open = async (contexts: StoreContext[]): Promise<SubOperationTarget> => {
      const destination = resolveMoveDestination(
        this.deps.config.dimse.destinations,
        destinationAe,
      );
      const association = await StoreAssociation.open(
        {
          host: destination.host,
          port: destination.port,
          callingAeTitle: this.deps.config.dimse.aeTitle,
          calledAeTitle: destination.aeTitle,
          contexts,
          timeoutSeconds: this.deps.config.dimse.timeoutSeconds,
        },
        { aeTitle: this.ctx.callingAeTitle, messageId: request.getMessageId() },
      );
      return {
        store: (instance) => association.store(instance),
        broken: () => association.isClosed(),
        close: () => association.release(),
      };
    };
    this.run(
      request,
      handleRetrieve(this.ctx, request, 'C-MOVE', model, channel, open, () =>
        resolveMoveDestination(this.deps.config.dimse.destinations, destinationAe),
      ),
      () => callback([]),
    );
  }

  override cGetRequest(request: Req<'CGetRequest'>, callback: (r: Res<'CGetResponse'>[]) => void) {
    const model = queryRetrieveModel(request.getAffectedSopClassUid())?.model ?? 'STUDY';
    const channel = this.channel(request);
    // PS3.4 C.4.3.3: C-GET sub-operations are C-STOREs on this same association, Veil as SCU.
    const target: SubOperationTarget = {
      store: (instance) => sendStore(this as unknown as RequestSender, instance, this.closed),
      broken: () => this.socketClosed,
      close: async () => undefined,
    };
    this.run(
      request,
      handleRetrieve(this.ctx, request, 'C-GET', model, channel, async () => target),
      () => callback([]),
    );
  }

  /**
   * Storage commitment (PS3.4 J.3.2): the request is checked and taken at once; the report
   * follows on an association of Veil's own once its instances are archived (storage-commitment.ts).
   */
  override nActionRequest(
    request: Req<'NActionRequest'>,
    callback: (r: Res<'NActionResponse'>) => void,
  ): void {
    const response = responses.NActionResponse.fromRequest(request);
    const answer = (status: number, code?: string): void => {
      response.setStatus(status);
      if (code !== undefined) response.setErrorComment(code.slice(0, 64));
      callback(response);
    };
    if (
      request.getRequestedSopClassUid() !== STORAGE_COMMITMENT_PUSH ||
      request.getRequestedSopInstanceUid() !== STORAGE_COMMITMENT_INSTANCE
    ) {
      answer(0x0118); // No such SOP Class (PS3.7 C.4: the only N-ACTION we serve)
      return;
    }
    if (request.getActionTypeId() !== REQUEST_COMMITMENT) {
      answer(0x0123); // No such action
      return;
    }
    try {
      const commitment = parseCommitmentRequest(
        request.getDataset()?.getElements() as Record<string, unknown> | undefined,
      );
      this.hooks.commitments.accept(this.ctx.callingAeTitle, commitment);
      this.ctx.log.info(
        { transactionUID: commitment.transactionUID, instances: commitment.items.length },
        'storage commitment requested',
      );
      answer(0x0000);
    } catch (err) {
      const { code } = this.ctx.failure(err, 'commitment', 'N-ACTION');
      // PS3.7 C.4: invalid argument value, resource limitation, or processing failure.
      answer(
        code === 'VEIL_E_COMMITMENT_INVALID' ? 0x0115 : code === 'VEIL_E_BUSY' ? 0x0213 : 0x0110,
        code,
      );
    }
  }

  override cCancelRequest(request: Req<'CCancelRequest'>): void {
    const op = this.operations.get(request.getMessageIdBeingRespondedTo());
    if (op !== undefined) op.cancelled = true;
  }

  /**
   * Waits for an operation, then completes dcmjs-dimse's callback once (its emitter allows only
   * one call; the responses themselves went out through sendResponse as they were ready).
   */
  private run(request: { getMessageId(): number }, operation: Promise<void>, complete: () => void) {
    operation
      .catch((err: unknown) => this.ctx.log.error({ err }, 'DIMSE operation failed unexpectedly'))
      .finally(() => {
        this.operations.delete(request.getMessageId());
        try {
          complete();
        } catch (err) {
          this.ctx.log.error({ err }, 'DIMSE completion failed');
        }
      });
  }

  /** Registers an operation for C-CANCEL and builds its channel. */
  private channel(
    request: Req<'CFindRequest'> | Req<'CMoveRequest'> | Req<'CGetRequest'>,
  ): OperationChannel {
    const op = { cancelled: false };
    this.operations.set(request.getMessageId(), op);
    const context = this.internals().association as unknown as Association | undefined;
    const syntax =
      context?.getAcceptedPresentationContextFromRequest(request)?.getAcceptedTransferSyntaxUid() ??
      constants.TransferSyntax.ImplicitVRLittleEndian;
    return {
      send: (response) => {
        if (this.socketClosed) return;
        try {
          this.sendResponse(request, response);
        } catch (err) {
          this.ctx.log.error({ err }, 'cannot send a DIMSE response');
        }
      },
      cancelled: () => op.cancelled,
      keepAlive: () => {
        // dcmjs-dimse times out on silence from the peer; a long retrieve is not silence.
        this.internals().lastPduTime = Date.now();
      },
      syntax,
    };
  }
}
