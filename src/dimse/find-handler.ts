/**
 * C-FIND SCP (PS3.4 C.4.1): the identifier becomes a catalogue query, each match one pending
 * response (0xFF00) with the requested keys only, then the final 0x0000. A C-CANCEL between
 * responses ends the operation with 0xFE00. The index answers; no pixels, no archive.
 */
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { Dataset, responses, type requests } from 'dcmjs-dimse';
import type { AssociationContext, OperationChannel } from './association-context';
import { assertIdentifierUids } from './identifier-uids';
import { parseFindIdentifier, responseIdentifier, type ParsedFind } from './query-identifier';
import type { InformationModel } from './sop-classes';

type CFindRequest = InstanceType<typeof requests.CFindRequest>;

/** DIMSE statuses of C-FIND (PS3.4 C.4.1.1.4). */
export const FindStatus = { Success: 0x0000, Pending: 0xff00, Cancel: 0xfe00 } as const;

/** Runs one C-FIND to its final response. Never throws: failures become a final status. */
export async function handleFind(
  ctx: AssociationContext,
  request: CFindRequest,
  model: InformationModel,
  channel: OperationChannel,
): Promise<void> {
  const respond = (status: number, identifier?: Record<string, unknown>, comment?: string) => {
    const response = responses.CFindResponse.fromRequest(request);
    response.setAffectedSopClassUid(request.getAffectedSopClassUid());
    response.setStatus(status);
    if (identifier !== undefined) response.setDataset(new Dataset(identifier, channel.syntax));
    if (comment !== undefined) response.setErrorComment(comment.slice(0, 64));
    channel.send(response);
  };
  let parsed: ParsedFind | undefined;
  try {
    assertIdentifierUids(request.getDataset());
    parsed = parseFindIdentifier(request.getDataset()?.getElements() ?? {}, model);
    const rows = ctx.deps.catalogue.query(parsed.query);
    let sent = 0;
    for (const row of rows) {
      if (channel.cancelled()) {
        respond(FindStatus.Cancel);
        auditQuery(ctx, parsed, 'success');
        return;
      }
      respond(FindStatus.Pending, responseIdentifier(row, parsed, ctx.deps.config.dimse.aeTitle));
      // Let a C-CANCEL PDU (and other sockets) in between responses of a large result.
      if (++sent % 16 === 0) await yieldToIo();
    }
    respond(FindStatus.Success);
    ctx.log.info({ level: parsed.query.level, matches: rows.length }, 'C-FIND');
    auditQuery(ctx, parsed, 'success');
  } catch (err) {
    const { status, code } = ctx.failure(err, 'query', 'C-FIND');
    respond(status, undefined, code);
    auditQuery(ctx, parsed, 'minor-failure', code);
  }
}

function auditQuery(
  ctx: AssociationContext,
  parsed: ParsedFind | undefined,
  outcome: 'success' | 'minor-failure',
  errorCode?: string,
): void {
  const keys = parsed
    ? Object.entries(parsed.query.match)
        .filter(([, value]) => value !== '')
        .map(([keyword]) => keyword)
    : [];
  ctx.audit({
    type: 'Query',
    action: 'E',
    outcome,
    query: { level: parsed?.query.level ?? '', keys },
    errorCode,
  });
}
