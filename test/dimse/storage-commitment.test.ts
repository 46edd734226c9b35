/** Storage commitment, the parts without a network: the request, the report and the pending set. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { isVeilError } from '../../src/errors';
import { codeOf } from '../helpers/errors';
import type { InstanceRecord, PendingCommitment } from '../../src/index/catalogue';
import { SqliteCatalogue } from '../../src/index/sqlite-catalogue';
import { silentLogger } from '../../src/log';
import {
  EventType,
  FailureReason,
  MAX_COMMITMENT_ITEMS,
  MAX_PENDING_ITEMS,
  StorageCommitments,
  type StorageCommitmentOptions,
  commitmentReport,
  eventReportRequest,
  parseCommitmentRequest,
} from '../../src/dimse/storage-commitment';
import { STORAGE_COMMITMENT_PUSH } from '../../src/dimse/sop-classes';
import { requestAssociation } from '../../src/dimse/store-scu';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';

/** A catalogue of a few instances in the given states, keeping commitments in a SQLite catalogue. */
function catalogueOf(rows: Record<string, Partial<InstanceRecord>>) {
  const store = SqliteCatalogue.open(':memory:');
  return {
    get: (sop: string) =>
      rows[sop] ? ({ sopClassUID: CT, ...rows[sop] } as InstanceRecord) : undefined,
    saveCommitment: (c: PendingCommitment) => store.saveCommitment(c),
    removeCommitment: (ae: string, uid: string) => store.removeCommitment(ae, uid),
    pendingCommitments: () => store.pendingCommitments(),
  };
}

/** Pending commitments over `catalogue`, reporting to MODALITY at 127.0.0.1:1 (where nothing listens). */
function commitmentsOver(
  catalogue: StorageCommitmentOptions['catalogue'],
  options: Partial<StorageCommitmentOptions> = {},
): StorageCommitments {
  return new StorageCommitments({
    catalogue,
    log: silentLogger,
    aeTitle: 'VEIL',
    destinations: ['MODALITY@127.0.0.1:1'],
    timeoutSeconds: 3600,
    associationTimeoutSeconds: 1,
    ...options,
  });
}

const item = (sopInstanceUID: string, sopClassUID = CT) => ({
  ReferencedSOPClassUID: sopClassUID,
  ReferencedSOPInstanceUID: sopInstanceUID,
});

describe('dimse/storage-commitment', () => {
  it('reads the Transaction UID and the referenced instances of an N-ACTION data set', () => {
    const request = parseCommitmentRequest({
      TransactionUID: '2.25.1',
      ReferencedSOPSequence: [item('2.25.10'), item('2.25.11', MR)],
    });
    assert.deepEqual(request, {
      transactionUID: '2.25.1',
      items: [
        { sopClassUID: CT, sopInstanceUID: '2.25.10' },
        { sopClassUID: MR, sopInstanceUID: '2.25.11' },
      ],
    });
    // One item may come as an object rather than a one-element array (dcmjs naturalizing).
    assert.equal(
      parseCommitmentRequest({ TransactionUID: '2.25.1', ReferencedSOPSequence: item('2.25.10') })
        .items.length,
      1,
    );
  });

  it('refuses a request without Transaction UID, without instances or with bad UIDs', () => {
    const bad: Record<string, unknown>[] = [
      { ReferencedSOPSequence: [item('2.25.10')] },
      { TransactionUID: 'not a uid', ReferencedSOPSequence: [item('2.25.10')] },
      { TransactionUID: '2.25.1' },
      { TransactionUID: '2.25.1', ReferencedSOPSequence: [] },
      { TransactionUID: '2.25.1', ReferencedSOPSequence: [{ ReferencedSOPClassUID: CT }] },
      { TransactionUID: '2.25.1', ReferencedSOPSequence: [item('2.25.01')] },
    ];
    for (const elements of bad) {
      assert.equal(
        codeOf(() => parseCommitmentRequest(elements)),
        'VEIL_E_COMMITMENT_INVALID',
        JSON.stringify(elements),
      );
    }
    assert.equal(
      codeOf(() => parseCommitmentRequest(undefined)),
      'VEIL_E_COMMITMENT_INVALID',
    );
    const many = Array.from({ length: MAX_COMMITMENT_ITEMS + 1 }, (_, i) => item(`2.25.${i + 1}`));
    assert.equal(
      codeOf(() =>
        parseCommitmentRequest({ TransactionUID: '2.25.1', ReferencedSOPSequence: many }),
      ),
      'VEIL_E_BUSY',
    );
  });

  it('waits while an instance is on its way, and reports it failed once the wait is over', () => {
    const catalogue = catalogueOf({
      '2.25.10': { state: 'archived' },
      '2.25.11': { state: 'received' },
      '2.25.12': { state: 'failed' },
      '2.25.13': { state: 'archived', sopClassUID: MR },
    });
    const request = {
      transactionUID: '2.25.1',
      items: ['2.25.10', '2.25.11', '2.25.12', '2.25.13', '2.25.14'].map((sopInstanceUID) => ({
        sopClassUID: CT,
        sopInstanceUID,
      })),
    };
    assert.equal(commitmentReport(catalogue, request, false), undefined);
    const report = commitmentReport(catalogue, request, true)!;
    assert.deepEqual(
      report.committed.map((i) => i.sopInstanceUID),
      ['2.25.10'],
    );
    assert.deepEqual(
      report.failed.map((i) => [i.sopInstanceUID, i.reason]),
      [
        ['2.25.11', FailureReason.ProcessingFailure],
        ['2.25.12', FailureReason.ProcessingFailure],
        ['2.25.13', FailureReason.ClassInstanceConflict],
        ['2.25.14', FailureReason.NoSuchObjectInstance],
      ],
    );
    // Settled items (archived, failed, conflicting) need no wait.
    const settled = {
      transactionUID: '2.25.2',
      items: request.items.filter((_, i) => i !== 1 && i !== 4),
    };
    assert.equal(commitmentReport(catalogue, settled, false)?.failed.length, 2);
  });

  it('builds the N-EVENT-REPORT: event type 1 when all committed, 2 with a Failed SOP Sequence', () => {
    const all = eventReportRequest(
      {
        transactionUID: '2.25.1',
        committed: [{ sopClassUID: CT, sopInstanceUID: '2.25.10' }],
        failed: [],
      },
      'VEIL',
    );
    assert.equal(all.getEventTypeId(), EventType.AllCommitted);
    const a = all.getDataset()!.getElements() as Record<string, unknown>;
    assert.equal(a.TransactionUID, '2.25.1');
    assert.equal(a.RetrieveAETitle, 'VEIL');
    assert.deepEqual(a.ReferencedSOPSequence, [
      { ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: '2.25.10' },
    ]);
    assert.equal(a.FailedSOPSequence, undefined);
    const some = eventReportRequest(
      {
        transactionUID: '2.25.2',
        committed: [],
        failed: [{ sopClassUID: CT, sopInstanceUID: '2.25.11', reason: 0x0112 }],
      },
      'VEIL',
    );
    assert.equal(some.getEventTypeId(), EventType.SomeFailed);
    const s = some.getDataset()!.getElements() as Record<string, unknown>;
    assert.equal(s.ReferencedSOPSequence, undefined);
    assert.deepEqual(s.FailedSOPSequence, [
      { ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: '2.25.11', FailureReason: 0x0112 },
    ]);
  });

  it('keeps pending transactions in the catalogue, once each, in order', () => {
    const store = SqliteCatalogue.open(':memory:');
    const a = {
      callingAeTitle: 'MOD',
      transactionUID: '2.25.1',
      items: [{ sopClassUID: CT, sopInstanceUID: '2.25.10' }],
      deadline: 1_000,
    };
    const b = { ...a, transactionUID: '2.25.2', deadline: 2_000 };
    store.saveCommitment(a);
    store.saveCommitment(b);
    store.saveCommitment({ ...a, deadline: 9_999 });
    assert.deepEqual(store.pendingCommitments(), [a, b]);
    store.removeCommitment('MOD', '2.25.1');
    assert.deepEqual(store.pendingCommitments(), [b]);
    store.close();
  });

  it('resumes the transactions of an earlier run, and drops those it can no longer report', async () => {
    const catalogue = catalogueOf({ '2.25.10': { state: 'archived' } });
    const items = [{ sopClassUID: CT, sopInstanceUID: '2.25.10' }];
    catalogue.saveCommitment({
      callingAeTitle: 'MODALITY',
      transactionUID: '2.25.1',
      items,
      deadline: 0,
    });
    catalogue.saveCommitment({
      callingAeTitle: 'GONE',
      transactionUID: '2.25.2',
      items,
      deadline: 0,
    });
    const reports: string[] = [];
    // Nothing listens at MODALITY's address: the report is tried once and given up, then forgotten.
    const commitments = commitmentsOver(catalogue, {
      attempts: 1,
      onReport: (outcome) => reports.push(outcome),
    });
    assert.equal(commitments.resume(), 1);
    assert.deepEqual(
      catalogue.pendingCommitments().map((c) => c.transactionUID),
      ['2.25.1'],
      'the one for an AE no longer configured is dropped',
    );
    for (let i = 0; i < 100 && reports.length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(reports, ['undelivered']);
    for (let i = 0; i < 100 && catalogue.pendingCommitments().length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(catalogue.pendingCommitments(), []);
    commitments.close();
  });

  it('looks up again only the instances still on their way, and bounds what may wait', async () => {
    const rows: Record<string, Partial<InstanceRecord>> = { '2.25.10': { state: 'archived' } };
    const base = catalogueOf(rows);
    const looked: string[] = [];
    const catalogue = { ...base, get: (sop: string) => (looked.push(sop), base.get(sop)) };
    const commitments = commitmentsOver(catalogue, { pollMs: 10, attempts: 1 });
    const items = ['2.25.10', '2.25.11'].map((sopInstanceUID) => ({
      sopClassUID: CT,
      sopInstanceUID,
    }));
    commitments.accept('MODALITY', { transactionUID: '2.25.1', items });
    for (let i = 0; i < 100 && looked.length < 6; i++) await new Promise((r) => setTimeout(r, 10));
    // The first look reads both; later looks read only the one not yet archived.
    assert.deepEqual(looked.slice(0, 4), ['2.25.10', '2.25.11', '2.25.11', '2.25.11']);
    assert.equal(commitments.unsettledItems(), 1);
    const many = Array.from({ length: MAX_PENDING_ITEMS }, (_, i) => ({
      sopClassUID: CT,
      sopInstanceUID: `2.25.5${i}`,
    }));
    assert.equal(
      codeOf(() => commitments.accept('MODALITY', { transactionUID: '2.25.2', items: many })),
      'VEIL_E_BUSY',
      'over the bound of instances waiting',
    );
    commitments.close();
  });

  it('takes a request only from an AE it can report to, once per transaction, and leaves it for the next start on close', () => {
    const catalogue = catalogueOf({});
    const commitments = commitmentsOver(catalogue, { pollMs: 60_000 });
    const request = {
      transactionUID: '2.25.1',
      items: [{ sopClassUID: CT, sopInstanceUID: '2.25.9' }],
    };
    assert.equal(
      codeOf(() => commitments.accept('STRANGER', request)),
      'VEIL_E_MOVE_DESTINATION_UNKNOWN',
    );
    commitments.accept('MODALITY', request);
    commitments.accept('MODALITY', request);
    assert.equal(commitments.size(), 1);
    assert.equal(catalogue.pendingCommitments().length, 1);
    commitments.close();
    assert.equal(commitments.size(), 0);
    assert.equal(catalogue.pendingCommitments().length, 1, 'kept for the next start');
    assert.equal(
      codeOf(() => commitments.accept('MODALITY', request)),
      'VEIL_E_BUSY',
    );
  });
});

describe('dimse/storage-commitment report association', () => {
  it('proposes Veil as the SCP of storage commitment (SCU/SCP role selection sub-item)', async () => {
    const received: Buffer[] = [];
    const server = net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        socket.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        requestAssociation({
          host: '127.0.0.1',
          port,
          callingAeTitle: 'VEIL',
          calledAeTitle: 'MODALITY',
          timeoutSeconds: 5,
          contexts: [
            {
              abstractSyntaxUID: STORAGE_COMMITMENT_PUSH,
              transferSyntaxUIDs: ['1.2.840.10008.1.2'],
              requestorIsScp: true,
            },
          ],
        }),
        (err: unknown) => isVeilError(err) && err.code === 'VEIL_E_DIMSE_PEER_UNAVAILABLE',
      );
    } finally {
      server.close();
    }
    const pdu = Buffer.concat(received);
    assert.equal(pdu[0], 0x01, 'A-ASSOCIATE-RQ');
    // PS3.7 D.3.3.4: item 0x54, reserved, length, UID length, UID, SCU role, SCP role.
    const uid = Buffer.from(STORAGE_COMMITMENT_PUSH, 'latin1');
    let found = false;
    for (let i = pdu.indexOf(0x54); i >= 0 && i + 6 < pdu.length; i = pdu.indexOf(0x54, i + 1)) {
      const uidLength = pdu.readUInt16BE(i + 4);
      if (uidLength === uid.length && pdu.subarray(i + 6, i + 6 + uidLength).equals(uid)) {
        assert.equal(pdu[i + 6 + uidLength], 0, 'SCU role: no');
        assert.equal(pdu[i + 7 + uidLength], 1, 'SCP role: yes');
        found = true;
        break;
      }
    }
    assert.ok(found, 'a role selection sub-item for the storage commitment SOP class');
  });
});
