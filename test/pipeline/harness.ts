/**
 * Shared pieces of the pipeline tests: a private redis-server per test file, a config rooted in a
 * temp folder, and unique queue names so runs never meet.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { type VeilConfig, loadConfig } from '../../src/config';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../src/pipeline/embedded-redis';
import type { Catalogue } from '../../src/index/catalogue';
import type { QueueNaming } from '../../src/pipeline/queues';
import { CONFIG_DIR } from '../../src/cli/settings';

/** Starts a private Redis with its data under `dir`. */
export function startTestRedis(dir: string): Promise<EmbeddedRedis> {
  return startEmbeddedRedis({ dir: path.join(dir, 'redis') });
}

/** Queue names and a key prefix no other test uses. */
export function uniqueNaming(): QueueNaming {
  const id = randomBytes(4).toString('hex');
  return { protect: `t-protect-${id}`, reveal: `t-reveal-${id}`, prefix: `veiltest${id}` };
}

/** A configuration whose every path lies under `dir` (2048-bit keys: fast to generate). */
export function testConfig(dir: string, overrides: Record<string, string> = {}): VeilConfig {
  return loadConfig({
    configDir: CONFIG_DIR,
    nodeEnv: 'test',
    env: {
      VEIL_DATA_DIR: dir,
      VEIL_SPOOL__DIR: path.join(dir, 'spool'),
      VEIL_SPOOL__MIN_FREE_BYTES: '0',
      VEIL_INDEX__FILE: path.join(dir, 'index.sqlite'),
      VEIL_ARCHIVE__FILESYSTEM__DIR: path.join(dir, 'archive'),
      VEIL_AUDIT__FILE: path.join(dir, 'audit.jsonl'),
      VEIL_KEYS__DIR: path.join(dir, 'keys'),
      VEIL_KEYS__BITS: '2048',
      VEIL_PROTECTION__PSEUDONYM_SECRET_FILE: path.join(dir, 'keys', 'pseudonym.secret'),
      VEIL_HTTP__TOKENS_FILE: path.join(dir, 'tokens.json'),
      VEIL_JOBS__BACKOFF_MS: '50',
      VEIL_JOBS__ATTEMPTS: '4',
      VEIL_LOG__LEVEL: 'silent',
      ...overrides,
    },
  });
}

/** Polls `check` until it returns a value other than undefined (bounded; no timing assertion). */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  limitMs = 60_000,
): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the gateway's index says every one of `sops` is archived (bounded). */
export async function waitArchived(
  gateway: { deps: { catalogue: Catalogue } },
  sops: Iterable<string>,
  limitMs = 240_000,
): Promise<void> {
  const wanted = [...sops];
  await eventually(
    () =>
      wanted.every((sop) => gateway.deps.catalogue.get(sop)?.state === 'archived')
        ? true
        : undefined,
    `${wanted.length} archived instances`,
    limitMs,
  );
}
