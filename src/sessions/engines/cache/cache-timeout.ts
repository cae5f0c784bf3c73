/**
 * The time limit of every cache operation (no Django counterpart: Django leaves it to each cache
 * backend's client). A cache operation still pending after it counts as failed: a stopped Redis must
 * not hang requests.
 */

/** A cache operation still pending after this long counts as failed. */
export const CACHE_OPERATION_TIMEOUT_MS = 2000;

/** `operation`, or a failure `cache <what> took longer than …` once CACHE_OPERATION_TIMEOUT_MS have passed. */
export function withTimeout<T>(operation: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`cache ${what} took longer than ${CACHE_OPERATION_TIMEOUT_MS} ms`)),
      CACHE_OPERATION_TIMEOUT_MS,
    );
  });
  return Promise.race([operation, timeout]).finally(() => clearTimeout(timer));
}
