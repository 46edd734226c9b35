/**
 * A per-instance lock in Redis, so two workers never protect copies of one SOP instance at once:
 * with "protect the newest queued file" inside the lock, the newest copy is always the one archived
 * last. The lock is a lease (SET NX PX) renewed while its holder runs, so a holder that dies (a
 * SIGKILLed sandbox child) blocks the instance for one lease at most, and it names the holding job,
 * so the retry of that very job takes it over at once.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Releases a held lock. */
export type ReleaseLock = () => Promise<void>;

/** Locks keyed by SOP Instance UID. */
export interface InstanceLock {
  /**
   * Takes the instance's lock for `holder` (the job id), waiting while another holder has it; the
   * release function, or undefined when it is still taken after the wait limit.
   */
  acquire(sopInstanceUID: string, holder: string): Promise<ReleaseLock | undefined>;
}

/** Options of RedisInstanceLock. */
export interface RedisInstanceLockOptions {
  /** Lease of a lock; renewed every third of it while held. Default 60 s. */
  ttlMs?: number;
  /** How long acquire() waits for another holder. Default 90 s: longer than a dead one's lease. */
  waitMs?: number;
  /** Poll interval while waiting. Default 200 ms. */
  pollMs?: number;
}

/**
 * Takes the lock when it is free, or when its holder is the same job (KEYS[1] lock, ARGV[1] the
 * holder prefix "<job id>\n", ARGV[2] our value, ARGV[3] the lease in ms). BullMQ runs one job id
 * at a time, so a lock held under our own job id was left by an earlier attempt whose process died.
 */
const ACQUIRE_SCRIPT = `
local v = redis.call('get', KEYS[1])
if (not v) or string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

/** Extends the lease only while the key still holds our value. */
const RENEW_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/** Deletes the key only when it still holds our value (the lock may have expired and moved on). */
const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** Redis-backed InstanceLock; see the file comment. */
export class RedisInstanceLock implements InstanceLock {
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    options: RedisInstanceLockOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.waitMs = options.waitMs ?? 90_000;
    this.pollMs = options.pollMs ?? 200;
  }

  async acquire(sopInstanceUID: string, holder: string): Promise<ReleaseLock | undefined> {
    const key = `${this.prefix}:veil-lock:${sopInstanceUID}`;
    const value = `${holder}\n${randomBytes(16).toString('hex')}`;
    const until = Date.now() + this.waitMs;
    for (;;) {
      const taken = await this.client.eval(
        ACQUIRE_SCRIPT,
        1,
        key,
        `${holder}\n`,
        value,
        String(this.ttlMs),
      );
      if (taken === 1) return this.held(key, value);
      if (Date.now() >= until) return undefined;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /** Renews the lease while held; the release stops renewing and deletes the key. */
  private held(key: string, value: string): ReleaseLock {
    const renew = setInterval(
      () => {
        this.client.eval(RENEW_SCRIPT, 1, key, value, String(this.ttlMs)).catch(() => undefined);
      },
      Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    renew.unref();
    return async () => {
      clearInterval(renew);
      await this.client.eval(RELEASE_SCRIPT, 1, key, value);
    };
  }
}
