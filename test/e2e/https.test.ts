/** The HTTP door over TLS (http.tls.certFile / keyFile) on the real gateway (embedded Redis). */
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import { type Gateway, startGateway } from '../../src/pipeline/gateway';
import { CONFIG_DIR } from '../../src/cli/settings';
import { testConfig } from '../pipeline/harness';
import { loopbackCertificate, tempDir } from '../helpers/tools';

function get(
  port: number,
  ca: Buffer,
  pathName: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: pathName, ca }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('e2e/https (HTTP door over TLS; embedded Redis)', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let gateway: Gateway;
  let cert: Buffer;

  before(async () => {
    tmp = tempDir('veil-https-');
    const { keyFile, certFile } = loopbackCertificate(tmp.dir);
    cert = readFileSync(certFile);
    const config = testConfig(path.join(tmp.dir, 'data'), {
      VEIL_HTTP__HOST: '127.0.0.1',
      VEIL_HTTP__PORT: '0',
      VEIL_DIMSE__HOST: '127.0.0.1',
      VEIL_DIMSE__PORT: '0',
      VEIL_WORKERS__PROCESSES: '0',
      VEIL_HTTP__TLS__CERT_FILE: certFile,
      VEIL_HTTP__TLS__KEY_FILE: keyFile,
    });
    gateway = await startGateway(config, silentLogger, {
      configDir: CONFIG_DIR,
      notice: () => undefined,
    });
  });
  after(async () => {
    await gateway?.close();
    tmp?.cleanup();
  });

  it('serves HTTPS with the configured certificate, and refuses plain HTTP', async () => {
    const ready = await get(gateway.httpPort, cert, '/healthz');
    assert.equal(ready.status, 200);
    assert.match(ready.body, /ok/);
    const denied = await get(gateway.httpPort, cert, '/dicom-web/studies');
    assert.equal(denied.status, 401);
    await assert.rejects(fetch(`http://127.0.0.1:${gateway.httpPort}/healthz`));
  });
});
