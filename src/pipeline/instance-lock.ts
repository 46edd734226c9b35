/**
 * A per-instance lock in Redis (SET NX PX with a token, released only by its holder), so two
 * workers never protect copies of one SOP instance at once: with "protect the newest queued file"
 * inside the lock, the newest copy is always the one archived last.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Releases a held lock. */
export type ReleaseLock = () => Promise<void>;

/** Locks keyed by SOP Instance UID. */
export interface InstanceLock {
  /** The release function, or undefined when another worker holds the lock. */
  tryAcquire(sopInstanceUID: string): Promise<ReleaseLock | undefined>;
}

/** Deletes the key only when it still holds our token (the lock may have expired and moved on). */
const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Redis-backed InstanceLock. `ttlMs` bounds how long a crashed holder blocks the instance; it must
 * exceed the longest protect job (a few seconds for hundreds of MB).
 */
export class RedisInstanceLock implements InstanceLock {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly ttlMs = 10 * 60 * 1000,
  ) {}

  async tryAcquire(sopInstanceUID: string): Promise<ReleaseLock | undefined> {
    const key = `${this.prefix}:veil-lock:${sopInstanceUID}`;
    const token = randomBytes(16).toString('hex');
    const ok = await this.client.set(key, token, 'PX', this.ttlMs, 'NX');
    if (ok !== 'OK') return undefined;
    return async () => {
      await this.client.eval(RELEASE_SCRIPT, 1, key, token);
    };
  }
}
