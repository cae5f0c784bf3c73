/**
 * Store calls shared by concurrent requests (the `batchStoreCalls` option). What the requests of one
 * event-loop turn ask of a store — the requests whose bytes, or whose previous store results,
 * arrived together — goes out as one call at the end of that turn (setImmediate, the check phase):
 * under load many requests share one call; a request alone in its turn is sent at once.
 */
import DataLoader from 'dataloader';

/** Keys (or rows) one shared call carries at most. */
const MAX_BATCH_SIZE = 200;

export interface StoreCall<K, V> {
  /** The call for a key alone in its turn: the engine's single-key call (Django's own statement). */
  one: (key: K) => Promise<V>;
  /** The shared call: answers for every key, in order (an Error instance fails that key alone). */
  many: (keys: readonly K[]) => Promise<readonly (V | Error)[]>;
  /** Told the size of each shared call (the module's telemetry). */
  onShared?: (size: number) => void;
}

/**
 * A DataLoader without its cache (each call reads the store afresh) whose batches are the calls of
 * one event-loop turn: `many` for two keys or more, `one` for a key alone. When the shared call
 * fails, each key is sent alone: a failure that one request's key, row or value causes fails that
 * request only, never its neighbours; a store that is really down fails each of them.
 */
export function batchPerTurn<K, V>({ one, many, onShared }: StoreCall<K, V>): DataLoader<K, V> {
  const eachAlone = (keys: readonly K[]) =>
    Promise.all(keys.map((key) => one(key).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))));
  const shared = (keys: readonly K[]) => {
    onShared?.(keys.length);
    return many(keys).catch(() => eachAlone(keys));
  };
  return new DataLoader<K, V>((keys) => (keys.length === 1 ? one(keys[0]).then((value) => [value]) : shared(keys)), {
    cache: false,
    maxBatchSize: MAX_BATCH_SIZE,
    batchScheduleFn: (send) => void setImmediate(send),
  });
}
