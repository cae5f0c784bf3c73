/**
 * Runs tasks one after the other per key, within this process (the file engine's check-and-rename
 * against its deletes; the in-process user index's read-modify-writes). An idle key leaves the map:
 * it does not grow with the keys it has seen.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** How many keys have tasks queued (0 when idle). */
  get size(): number {
    return this.#tails.size;
  }
}
