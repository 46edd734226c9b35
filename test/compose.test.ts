import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const COMPOSE = path.join(ROOT, 'docker-compose.yml');

/** True when the docker-compose (v1) binary is on PATH; there is no Docker engine, only validation. */
function hasDockerCompose(): boolean {
  return spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
}

describe('compose', () => {
  const text = fs.readFileSync(COMPOSE, 'utf8');

  it('declares the redis, orthanc, gateway and worker services on shared volumes', () => {
    for (const service of ['redis', 'orthanc', 'gateway', 'worker']) {
      assert.match(text, new RegExp(`^  ${service}:$`, 'm'), `service ${service}`);
    }
    assert.match(text, /image: redis:7-alpine/);
    assert.match(text, /image: orthancteam\/orthanc/);
    assert.match(text, /DICOM_WEB_PLUGIN_ENABLED: 'true'/);
    assert.match(text, /command: \['serve'\]/);
    assert.match(text, /command: \['worker'\]/);
    assert.match(text, /replicas: 2/);
    assert.equal(
      text.match(/- veil-data:\/var\/lib\/veil\/data/g)?.length,
      2,
      'spool shared by gateway and worker',
    );
    assert.equal(
      text.match(/- veil-keys:\/var\/lib\/veil\/keys/g)?.length,
      2,
      'keys shared by gateway and worker',
    );
  });

  it('builds from a Dockerfile that runs bin/veil with production dependencies', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^FROM node:20-slim$/m);
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(dockerfile, /ENTRYPOINT \["node", "bin\/veil"\]/);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.ok(
      pkg.dependencies.tsx,
      'tsx is a runtime dependency: bin/veil runs TypeScript through it',
    );
  });

  if (hasDockerCompose()) {
    it('passes docker-compose config -q (docker-compose installed)', () => {
      const run = spawnSync('docker-compose', ['-f', COMPOSE, 'config', '-q'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
    });
  }
});
