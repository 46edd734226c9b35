import assert from 'node:assert/strict';
import net from 'node:net';
import { TransferSyntax } from '../../src/dicom/tags';
import { startDimseServer, type DimseServer } from '../../src/dimse/server';
import { VERIFICATION } from '../../src/dimse/sop-classes';
import { StoreAssociation } from '../../src/dimse/store-scu';
import { loopbackCertificate, tempDir } from '../helpers/tools';
import { dimseTestBed, runAsync, type DimseTestBed } from './harness';

describe('dimse/server associations (DCMTK echoscu)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let server: DimseServer;

  const echo = (callingAe: string, calledAe = 'VEIL') =>
    runAsync('echoscu', ['-aet', callingAe, '-aec', calledAe, '127.0.0.1', String(server.port)]);

  before(async () => {
    tmp = tempDir('veil-dimse-assoc-');
    bed = dimseTestBed(tmp.dir, {
      aeTitle: 'VEIL',
      allowedCallingAETitles: ['WS1', 'MOD1'],
      maxAssociations: 1,
    });
    server = await startDimseServer(bed.deps);
  });

  after(async () => {
    await server.close();
    bed.close();
    tmp.cleanup();
  });

  it('accepts an allowed calling AE (padding spaces are not significant)', async () => {
    assert.equal((await echo('WS1')).status, 0);
    assert.equal((await echo('MOD1 ')).status, 0);
  });

  it('rejects a wrong called AE title permanently', async () => {
    const run = await echo('WS1', 'NOT-VEIL');
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /Called AE Title Not Recognized/i);
    assert.match(run.stderr, /Rejected Permanent/i);
  });

  it('rejects a calling AE that is not allowed, and audits it as a security alert', async () => {
    const run = await echo('INTRUDER');
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /Calling AE Title Not Recognized/i);
    const alert = bed.audit.find((e) => e.type === 'SecurityAlert' && e.user === 'INTRUDER');
    assert.ok(alert, 'SecurityAlert recorded');
    assert.equal(alert.errorCode, 'VEIL_E_DIMSE_AE_REJECTED');
    assert.equal(alert.address, '127.0.0.1');
  });

  it('rejects associations beyond dimse.maxAssociations transiently, and accepts again once one ends', async () => {
    const held = await StoreAssociation.open({
      host: '127.0.0.1',
      port: server.port,
      callingAeTitle: 'WS1',
      calledAeTitle: 'VEIL',
      contexts: [
        { sopClassUID: VERIFICATION, transferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian },
      ],
      timeoutSeconds: 30,
    });
    try {
      const run = await echo('MOD1');
      assert.notEqual(run.status, 0);
      assert.match(run.stderr, /Rejected Transient/i);
      assert.match(run.stderr, /Local Limit Exceeded/i);
    } finally {
      await held.release();
    }
    assert.equal((await echo('MOD1')).status, 0);
  });

  it('survives a peer that sends garbage and keeps serving others', async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: server.port }, () => {
        socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      });
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
      // Read what the listener answers (an A-ABORT, PS3.8 9.2 AA-1): an unread reply would hold
      // back the end of the stream and with it 'close'.
      socket.resume();
    });
    assert.equal((await echo('WS1')).status, 0);
  });
});

describe('dimse/server peer address allow-list', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let server: DimseServer;

  before(async () => {
    tmp = tempDir('veil-dimse-hosts-');
    bed = dimseTestBed(tmp.dir, { allowedHosts: ['10.9.8.7'] });
    server = await startDimseServer(bed.deps);
  });

  after(async () => {
    await server.close();
    bed.close();
    tmp.cleanup();
  });

  it('rejects a peer whose address is not listed', async () => {
    const run = await runAsync('echoscu', [
      '-aet',
      'WS1',
      '-aec',
      'VEIL',
      '127.0.0.1',
      String(server.port),
    ]);
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /Rejected Permanent/i);
  });
});

describe('dimse/server idle timeout', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let server: DimseServer;

  before(async () => {
    tmp = tempDir('veil-dimse-idle-');
    bed = dimseTestBed(tmp.dir, { timeoutSeconds: 1 });
    server = await startDimseServer(bed.deps);
  });

  after(async () => {
    await server.close();
    bed.close();
    tmp.cleanup();
  });

  it('drops a peer that connects and stays silent (slow-loris guard)', async () => {
    const closedByServer = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(true));
    });
    assert.equal(closedByServer, true);
    assert.equal(
      (await runAsync('echoscu', ['-aec', 'VEIL', '127.0.0.1', String(server.port)])).status,
      0,
    );
  });
});

describe('dimse/server DICOM TLS (openssl certificate, echoscu +tls)', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let bed: DimseTestBed;
  let server: DimseServer;
  let key: string;
  let cert: string;

  before(async () => {
    tmp = tempDir('veil-dimse-tls-');
    ({ keyFile: key, certFile: cert } = loopbackCertificate(tmp.dir));
    bed = dimseTestBed(tmp.dir, { tls: { certFile: cert, keyFile: key } });
    server = await startDimseServer(bed.deps);
  });

  after(async () => {
    await server.close();
    bed.close();
    tmp.cleanup();
  });

  it('answers C-ECHO over TLS and refuses plain TCP', async () => {
    const port = String(server.port);
    const secure = await runAsync('echoscu', [
      '+tls',
      key,
      cert,
      '+cf',
      cert,
      '-aec',
      'VEIL',
      '127.0.0.1',
      port,
    ]);
    assert.equal(secure.status, 0, secure.stderr);
    const plain = await runAsync('echoscu', ['-aec', 'VEIL', '127.0.0.1', port]);
    assert.notEqual(plain.status, 0);
  });
});
