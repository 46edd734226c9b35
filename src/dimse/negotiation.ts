/**
 * Association negotiation (PS3.8 7.1, 9.3.3): who may associate, and which presentation contexts
 * are accepted with which transfer syntax. Pure: it reads the proposed association and the
 * policy, sets each context's result, and says whether to accept or how to reject.
 */
import { association as dimseAssociation, constants } from 'dcmjs-dimse';
import {
  COMMAND_TRANSFER_SYNTAXES,
  STORAGE_COMMITMENT_PUSH,
  STORAGE_TRANSFER_SYNTAXES,
  VERIFICATION,
  isStorageSopClass,
  queryRetrieveModel,
} from './sop-classes';

type Association = InstanceType<typeof dimseAssociation.Association>;
const { PresentationContextResult, RejectReason, RejectResult, RejectSource } = constants;

/** Who may associate with the listener (config dimse.*). */
export interface AssociationPolicy {
  /** Our AE title: the called AE title must equal it. */
  aeTitle: string;
  /** Calling AE titles allowed; empty allows any. */
  allowedCallingAETitles: readonly string[];
  /** Peer IP addresses allowed; empty allows any. */
  allowedHosts: readonly string[];
  /** Concurrent associations allowed. */
  maxAssociations: number;
}

/** An A-ASSOCIATE-RJ to send (PS3.8 9.3.4) and the reason, for logs and audit. */
export interface AssociationRejection {
  result: number;
  source: number;
  reason: number;
  /** Short reason for the log; never patient data. */
  why: string;
  /** Permanent rejections of an unknown peer are security-relevant (audited). */
  security: boolean;
}

/** What negotiation decided. */
export type NegotiationOutcome =
  { accepted: true } | { accepted: false; reject: AssociationRejection };

/** AE titles are compared without their space padding (PS3.5 6.2: leading/trailing spaces are not significant). */
export function sameAeTitle(a: string, b: string): boolean {
  return a.trim() === b.trim();
}

/** IPv4 peers on a dual-stack socket appear as ::ffff:a.b.c.d; allow-lists name the plain address. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Decides on an A-ASSOCIATE-RQ: called AE, calling AE and peer address allow-lists (permanent
 * rejections), the association limit (transient), then the presentation contexts.
 */
export function negotiate(
  association: Association,
  policy: AssociationPolicy,
  peer: { address: string; activeAssociations: number },
): NegotiationOutcome {
  const reject = (
    result: number,
    source: number,
    reason: number,
    why: string,
    security: boolean,
  ): NegotiationOutcome => ({ accepted: false, reject: { result, source, reason, why, security } });
  if (!sameAeTitle(association.getCalledAeTitle(), policy.aeTitle)) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.CalledAeNotRecognized,
      'called AE title is not ours',
      false,
    );
  }
  const calling = association.getCallingAeTitle();
  if (
    policy.allowedCallingAETitles.length > 0 &&
    !policy.allowedCallingAETitles.some((ae) => sameAeTitle(ae, calling))
  ) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.CallingAeNotRecognized,
      'calling AE title not allowed',
      true,
    );
  }
  if (
    policy.allowedHosts.length > 0 &&
    !policy.allowedHosts.map(normalizeAddress).includes(normalizeAddress(peer.address))
  ) {
    return reject(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.NoReasonGiven,
      'peer address not allowed',
      true,
    );
  }
  if (peer.activeAssociations >= policy.maxAssociations) {
    // PS3.8 9.3.4: source "service provider (presentation)", reason "local limit exceeded".
    return reject(
      RejectResult.Transient,
      RejectSource.ServiceProviderPresentation,
      RejectReason.LocalLimitExceeded,
      'association limit reached',
      false,
    );
  }
  acceptPresentationContexts(association);
  return { accepted: true };
}

/** Transfer syntaxes acceptable for an abstract syntax, or undefined when we do not serve it. */
function supportedSyntaxes(abstractSyntaxUID: string): readonly string[] | undefined {
  if (isStorageSopClass(abstractSyntaxUID)) return STORAGE_TRANSFER_SYNTAXES;
  if (abstractSyntaxUID === VERIFICATION) return COMMAND_TRANSFER_SYNTAXES;
  if (abstractSyntaxUID === STORAGE_COMMITMENT_PUSH) return COMMAND_TRANSFER_SYNTAXES;
  if (queryRetrieveModel(abstractSyntaxUID) !== undefined) return COMMAND_TRANSFER_SYNTAXES;
  return undefined;
}

/**
 * Sets the result of every proposed context. The proposer's order is honoured (its first
 * syntax we support wins), so a modality that offers its file's own syntax first sends it as is.
 */
export function acceptPresentationContexts(association: Association): void {
  for (const { context } of association.getPresentationContexts()) {
    const supported = supportedSyntaxes(context.getAbstractSyntaxUid());
    if (supported === undefined) {
      context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      continue;
    }
    const chosen = context.getTransferSyntaxUids().find((ts) => supported.includes(ts));
    if (chosen === undefined) {
      context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      continue;
    }
    context.setResult(PresentationContextResult.Accept, chosen);
  }
}
