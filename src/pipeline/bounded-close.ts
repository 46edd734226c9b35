/**
 * Closing what talks to Redis without hanging when Redis is gone: BullMQ's close() sends QUIT,
 * which ioredis keeps in its offline queue until Redis answers, i.e. forever during an outage.
 * After a grace period the connections are dropped, which ends the QUIT and the close.
 */

/** How long a forced disconnect, and the close after it, may take. */
const AFTER_DISCONNECT_MS = 2_000;

/** Something BullMQ-like: a polite close and a forced disconnect. */
export interface Closable {
  close(): Promise<unknown>;
  disconnect(): Promise<unknown> | unknown;
}

/**
 * Closes every item, waiting at most `graceMs` for the polite close; then disconnects them and
 * waits (briefly) for their close to finish. Resolves to true when everything closed politely.
 * Never rejects.
 */
export async function closeWithin(items: readonly Closable[], graceMs: number): Promise<boolean> {
  const closing = items.map((item) =>
    item.close().then(
      () => true,
      () => true,
    ),
  );
  if (await within(Promise.all(closing), graceMs)) return true;
  // A disconnect may itself wait for an 'end' event a reconnecting client never emits.
  await within(
    Promise.allSettled(items.map(async (item) => item.disconnect())),
    AFTER_DISCONNECT_MS,
  );
  await within(Promise.all(closing), AFTER_DISCONNECT_MS);
  return false;
}

/** True when `promise` settles within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
