/**
 * What one association knows about itself: the gateway deps, the peer (calling AE, address), a
 * child logger carrying both, and the instances stored so far for the association's audit
 * event. Never patient data: UIDs and counts only.
 */
import type { responses } from 'dcmjs-dimse';
import type { AuditEvent } from '../pipeline/contracts';
import type { GatewayDeps } from '../pipeline/gateway-deps';
import type { Logger } from '../log';
import { isVeilError } from '../errors';

/** How a C-FIND / C-MOVE / C-GET handler talks back on its association. */
export interface OperationChannel {
  /** Sends a response now (pending or final). */
  send(response: InstanceType<typeof responses.Response>): void;
  /** True once a C-CANCEL for this operation arrived (PS3.7 9.3.2.3). */
  cancelled(): boolean;
  /** Marks the association busy, so a silent peer waiting for a long retrieve is not timed out. */
  keepAlive(): void;
  /** Transfer syntax of the request's presentation context, for response identifiers. */
  syntax: string;
}

/** Per-association state shared by the DIMSE service handlers. */
export class AssociationContext {
  /** Calling AE title once the A-ASSOCIATE-RQ arrived (trimmed). */
  callingAeTitle = '';
  log: Logger;
  private readonly stored = new Map<string, string[]>();
  private storeFailures = 0;

  constructor(
    readonly deps: GatewayDeps,
    readonly address: string,
    readonly id: number,
  ) {
    this.log = deps.log.child({ door: 'dimse', association: id, address });
  }

  /** Binds the calling AE title to the context and its logger. */
  identify(callingAeTitle: string): void {
    this.callingAeTitle = callingAeTitle.trim();
    this.log = this.log.child({ callingAE: this.callingAeTitle });
  }

  /** Records an audit event as this peer. */
  audit(event: Omit<AuditEvent, 'user' | 'address'>): void {
    try {
      this.deps.audit.record({ ...event, user: this.callingAeTitle, address: this.address });
    } catch (err) {
      // The audit trail failing must not take the association down; it is logged loudly.
      this.log.error({ err }, 'audit record failed');
    }
  }

  /** Notes an acknowledged instance for the association's DICOMInstancesTransferred event. */
  noteStored(studyInstanceUID: string, sopInstanceUID: string): void {
    const list = this.stored.get(studyInstanceUID) ?? [];
    list.push(sopInstanceUID);
    this.stored.set(studyInstanceUID, list);
  }

  /** Notes a refused instance (its error is logged and counted where it happened). */
  noteStoreFailure(): void {
    this.storeFailures++;
  }

  /**
   * Emits the association's DICOMInstancesTransferred (create) event, once, when it ends (PS3.15
   * A.5.3.2: one event per study and association is what ATNA repositories expect).
   */
  flushStoredAudit(): void {
    for (const [study, sops] of this.stored) {
      this.audit({
        type: 'DICOMInstancesTransferred',
        action: 'C',
        outcome: 'success',
        studyInstanceUIDs: [study],
        sopInstanceUIDs: sops,
      });
    }
    if (this.storeFailures > 0) {
      this.audit({ type: 'DICOMInstancesTransferred', action: 'C', outcome: 'minor-failure' });
    }
    this.stored.clear();
    this.storeFailures = 0;
  }

  /**
   * DIMSE status and error code for a failure: a VeilError maps through ERROR_CODES, anything
   * else is a bug (logged with its stack) and answers 0xC000 (PS3.7 C.5 "unable to process").
   * `count` is false where the failing component already counted it (the intake).
   */
  failure(
    err: unknown,
    stage: string,
    what: string,
    count = true,
  ): { status: number; code: string } {
    if (isVeilError(err)) {
      this.log.warn({ code: err.code, err: err.message }, `${what} failed`);
      if (count) this.deps.metrics.failures.inc({ code: err.code, stage });
      return { status: err.dimseStatus, code: err.code };
    }
    this.log.error({ err }, `${what} failed unexpectedly`);
    if (count) this.deps.metrics.failures.inc({ code: 'INTERNAL', stage });
    return { status: 0xc000, code: 'INTERNAL' };
  }
}
