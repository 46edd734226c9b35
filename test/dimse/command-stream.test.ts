/**
 * dcmjs-dimse 0.3.x kept appending every command without a data set (C-STORE-RSP...) to the one
 * before it and parsed them all again (src/dimse/command-stream.ts). Against a real DCMTK
 * storescp: each C-STORE-RSP of an association is parsed from its own bytes only.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { Dataset, log as dimseLog } from 'dcmjs-dimse';
import { generateCtSeries } from '../../samples/generate';
import { Tags, TransferSyntax, parsePart10 } from '../../src/dicom';
import { commandStreamMended } from '../../src/dimse/command-stream';
import { outgoingInstance } from '../../src/dimse/raw-dataset';
import { StoreAssociation } from '../../src/dimse/store-scu';
import { tempDir } from '../helpers/tools';
import { startStorescp } from './harness';

type FromElementsBuffer = (this: object, bytes: Buffer, ...rest: unknown[]) => unknown;

describe('dimse/command-stream (dcmjs-dimse receive path, real storescp)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let storescp: Awaited<ReturnType<typeof startStorescp>>;
  const proto = Dataset.prototype as unknown as { _fromElementsBuffer: FromElementsBuffer };
  const original = proto._fromElementsBuffer;
  const parsedLengths: number[] = [];

  before(async () => {
    dimseLog.setLevel('silent');
    tmp = tempDir('veil-command-stream-');
    storescp = await startStorescp('STORESCP', path.join(tmp.dir, 'in'));
    proto._fromElementsBuffer = function (this: object, bytes: Buffer, ...rest: unknown[]) {
      parsedLengths.push(bytes.length);
      return original.call(this, bytes, ...rest);
    };
  });
  after(async () => {
    proto._fromElementsBuffer = original;
    await storescp?.stop();
    tmp?.cleanup();
  });

  it('parses each C-STORE-RSP of an association from its own bytes, not with the ones before it', async () => {
    assert.equal(commandStreamMended, true);
    const files = generateCtSeries({ slices: 12, rows: 32, columns: 32, seed: 77 });
    const sopClassUID = parsePart10(files[0]!, { stopAtPixelData: true }).dataset.string(
      Tags.SOPClassUID,
    )!;
    const association = await StoreAssociation.open({
      host: '127.0.0.1',
      port: storescp.port,
      callingAeTitle: 'VEIL',
      calledAeTitle: 'STORESCP',
      contexts: [{ sopClassUID, transferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian }],
      timeoutSeconds: 30,
    });
    parsedLengths.length = 0;
    try {
      for (const file of files) assert.equal(await association.store(outgoingInstance(file)), 0);
    } finally {
      await association.release();
    }
    assert.equal(parsedLengths.length, files.length, 'one command parsed per response');
    // A C-STORE-RSP command is ~150 bytes; unmended, the 12th was parsed from ~1.8 KB.
    const first = parsedLengths[0]!;
    assert.ok(first < 256, `first response ${first} bytes`);
    for (const [i, n] of parsedLengths.entries()) {
      assert.ok(Math.abs(n - first) <= 8, `response ${i + 1} parsed from ${n} bytes`);
    }
  });
});
