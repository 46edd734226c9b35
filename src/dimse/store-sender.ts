/**
 * Sends one C-STORE sub-operation on an established association and waits for its response:
 * shared by C-MOVE (Veil as SCU on its own association) and C-GET (Veil as SCP, sub-operations
 * on the requester's association, PS3.4 C.4.3.3). The data set travels as exact bytes.
 */
import { constants, requests, type Scp } from 'dcmjs-dimse';
import { VeilError } from '../errors';
import { canDeliverAs, datasetFor, type OutgoingInstance } from './raw-dataset';

const { PresentationContextResult } = constants;

/** The dcmjs-dimse Network internals we rely on (present in 0.3.x, not in its typings). */
export interface NetworkInternals {
  association?: {
    getPresentationContexts(): Array<{
      id: number;
      context: {
        getAbstractSyntaxUid(): string;
        getResult(): number;
        getAcceptedTransferSyntaxUid(): string | undefined;
      };
    }>;
  };
  socket: import('node:net').Socket;
  /** Requests awaiting a response; dcmjs-dimse never prunes it, so we do (it holds data sets). */
  pending?: unknown[];
  connected: boolean;
  connectedTime?: number;
  lastPduTime?: number;
}

/** Anything that can send DIMSE requests: the SCP itself (C-GET) or a requestor Network (C-MOVE). */
export type RequestSender = Pick<Scp, 'sendRequests'> & NetworkInternals;

/** Move originator (PS3.7 9.1.1.1): who asked for the C-MOVE this sub-operation serves. */
export interface MoveOriginator {
  aeTitle: string;
  messageId: number;
}

/**
 * The accepted transfer syntax to send an instance in: a context accepted with the file's own
 * syntax, else one accepted with Explicit VR LE when the file's native syntax can be re-encoded.
 */
export function chooseTransferSyntax(
  sender: NetworkInternals,
  sopClassUID: string,
  fileSyntax: string,
): string | undefined {
  const accepted = (sender.association?.getPresentationContexts() ?? [])
    .map(({ context }) => context)
    .filter(
      (c) =>
        c.getAbstractSyntaxUid() === sopClassUID &&
        c.getResult() === PresentationContextResult.Accept,
    )
    .map((c) => c.getAcceptedTransferSyntaxUid())
    .filter((ts): ts is string => ts !== undefined);
  if (accepted.includes(fileSyntax)) return fileSyntax;
  return accepted.find((ts) => canDeliverAs(fileSyntax, ts));
}

/**
 * Sends `instance` as a C-STORE-RQ and resolves with the peer's DIMSE status. Rejects when no
 * accepted context fits (VEIL_E_DICOM_TRANSFER_SYNTAX) or when `closed` settles first.
 */
export function sendStore(
  sender: RequestSender,
  instance: OutgoingInstance,
  closed: Promise<unknown>,
  originator?: MoveOriginator,
): Promise<number> {
  const { header } = instance;
  const syntax = chooseTransferSyntax(sender, header.sopClassUID, header.transferSyntaxUID);
  if (syntax === undefined) {
    return Promise.reject(
      new VeilError(
        'VEIL_E_DICOM_TRANSFER_SYNTAX',
        `The peer accepted no presentation context for ${header.sopClassUID} in ${header.transferSyntaxUID}`,
      ),
    );
  }
  const request = new requests.CStoreRequest(datasetFor(instance, syntax));
  if (originator !== undefined) {
    const command = request.getCommandDataset();
    command.setElement('MoveOriginatorApplicationEntityTitle', originator.aeTitle);
    command.setElement('MoveOriginatorMessageID', originator.messageId as unknown as string);
  }
  return new Promise<number>((resolve, reject) => {
    let status: number | undefined;
    request.on('response', (response: { getStatus(): number }) => {
      status = response.getStatus();
    });
    request.on('done', () => {
      const index = sender.pending?.indexOf(request) ?? -1;
      if (index >= 0) sender.pending?.splice(index, 1);
      if (status === undefined)
        reject(new VeilError('VEIL_E_DIMSE_PEER_UNAVAILABLE', 'C-STORE ended without a response'));
      else resolve(status);
    });
    closed.then(
      () => reject(new VeilError('VEIL_E_DIMSE_PEER_UNAVAILABLE', 'The association closed')),
      (err: unknown) => reject(err),
    );
    sender.sendRequests(request);
  });
}
