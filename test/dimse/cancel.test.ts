import assert from 'node:assert/strict';
import path from 'node:path';
import { requests, type responses } from 'dcmjs-dimse';
import { generateCtSeries } from '../../samples/generate';
import { AssociationContext, type OperationChannel } from '../../src/dimse/association-context';
import { handleFind } from '../../src/dimse/find-handler';
import { handleRetrieve } from '../../src/dimse/retrieve-handler';
import { tempDir } from '../helpers/tools';
import { dimseTestBed, type DimseTestBed } from './harness';
import { writeFileSync } from 'node:fs';

type Response = InstanceType<typeof responses.Response>;

/**
 * A channel that records responses and reports a C-CANCEL once `after` responses went out, or
 * once `cancelWhen` says so.
 */
function cancellingChannel(
  after: number,
  cancelWhen: () => boolean = () => false,
): OperationChannel & { sent: Response[] } {
  const sent: Response[] = [];
  return {
    sent,
    send: (r) => void sent.push(r),
    cancelled: () => sent.length >= after || cancelWhen(),
    keepAlive: () => undefined,
    syntax: '1.2.840.10008.1.2.1',
  };
}

describe('dimse C-CANCEL of C-FIND and C-GET (handlers, SQLite catalogue)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let study = '';

  before(async () => {
    tmp = tempDir('veil-dimse-cancel-');
    bed = dimseTestBed(tmp.dir);
    for (const [i, bytes] of generateCtSeries({
      slices: 6,
      rows: 32,
      columns: 32,
      seed: 41,
    }).entries()) {
      const file = path.join(tmp.dir, `ct-${i}.dcm`);
      writeFileSync(file, bytes);
      study = (await bed.archiveOriginal(file)).studyInstanceUID;
    }
  });

  after(() => {
    bed.close();
    tmp.cleanup();
  });

  it('ends a C-FIND with 0xFE00 after the responses sent before the cancel', async () => {
    const ctx = new AssociationContext(bed.deps, '127.0.0.1', 1);
    const request = requests.CFindRequest.createImageFindRequest({
      StudyInstanceUID: study,
      SeriesInstanceUID: '',
      SOPInstanceUID: '',
    });
    const channel = cancellingChannel(2);
    await handleFind(ctx, request, 'STUDY', channel);
    assert.deepEqual(
      channel.sent.map((r) => r.getStatus()),
      [0xff00, 0xff00, 0xfe00],
    );
  });

  it('ends a C-GET with 0xFE00 and the remaining count after a cancel', async () => {
    const ctx = new AssociationContext(bed.deps, '127.0.0.1', 2);
    const request = requests.CGetRequest.createStudyGetRequest(study);
    const stored: string[] = [];
    // Cancelled after the third sub-operation (Pending responses are paced, not one per instance).
    const channel = cancellingChannel(Infinity, () => stored.length >= 3);
    await handleRetrieve(ctx, request, 'C-GET', 'STUDY', channel, async () => ({
      store: async (instance) => {
        stored.push(instance.header.sopInstanceUID);
        return 0x0000;
      },
      broken: () => false,
      close: async () => undefined,
    }));
    const statuses = channel.sent.map((r) => r.getStatus());
    // Pending responses (paced: at most one per 200 ms, so one to three here), then Cancel.
    assert.equal(statuses.at(-1), 0xfe00);
    assert.ok(statuses.length >= 2 && statuses.length <= 4, `statuses ${statuses.join(',')}`);
    assert.ok(statuses.slice(0, -1).every((s) => s === 0xff00));
    const final = channel.sent.at(-1) as InstanceType<typeof responses.CGetResponse>;
    assert.equal(final.getCompleted(), 3);
    assert.equal(final.getRemaining(), 3);
    assert.equal(stored.length, 3);
  });
});
