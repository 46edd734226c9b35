/**
 * The worker child's context (worker-env): a build that fails (here: archive settings incomplete)
 * is not kept, so the child's next job builds again instead of failing for the child's life.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONFIG_DIR } from '../../src/cli/settings';
import { WORKER_ENV } from '../../src/pipeline/worker-context';
import { workerContextFromEnv } from '../../src/pipeline/worker-env';
import { tempDir } from '../helpers/tools';

describe('pipeline/worker-env', () => {
  const saved = { ...process.env };
  let tmp: ReturnType<typeof tempDir>;

  before(() => {
    tmp = tempDir('veil-worker-env-');
    const dir = tmp.dir;
    Object.assign(process.env, {
      NODE_ENV: 'test',
      [WORKER_ENV.configDir]: CONFIG_DIR,
      [WORKER_ENV.redisUrl]: 'redis://127.0.0.1:6379',
      VEIL_DATA_DIR: dir,
      VEIL_SPOOL__DIR: path.join(dir, 'spool'),
      VEIL_INDEX__FILE: path.join(dir, 'index.sqlite'),
      VEIL_ARCHIVE__FILESYSTEM__DIR: path.join(dir, 'archive'),
      VEIL_AUDIT__FILE: path.join(dir, 'audit.jsonl'),
      VEIL_KEYS__DIR: path.join(dir, 'keys'),
      VEIL_LOG__LEVEL: 'silent',
      // Incomplete: a DICOMweb archive without its URL.
      VEIL_ARCHIVE__KIND: 'dicomweb',
    });
  });
  after(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    tmp.cleanup();
  });

  it('builds again after a failed build instead of keeping the failure', async () => {
    await assert.rejects(workerContextFromEnv(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'VEIL_E_CONFIG_INVALID');
      return true;
    });
    process.env.VEIL_ARCHIVE__KIND = 'filesystem';
    const ctx = await workerContextFromEnv();
    try {
      assert.equal(ctx.archive.kind, 'filesystem');
      assert.equal(await workerContextFromEnv(), ctx, 'a built context is kept');
    } finally {
      await ctx.close();
    }
  });
});
