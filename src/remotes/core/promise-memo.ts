/**
 * Work done once per process and shared by every job that needs it (a folder
 * or collection made, a listing read), keyed: concurrent callers get the same
 * promise, and a failure is forgotten so that the next caller tries again.
 */
export class PromiseMemo<K, V> {
  private readonly pending = new Map<K, Promise<V>>();

  /** The promise for `key`, started with `make` when there is none. */
  get(key: K, make: () => Promise<V>): Promise<V> {
    let p = this.pending.get(key);
    if (!p) {
      p = make();
      this.pending.set(key, p);
      const started = p;
      started.catch(() => {
        if (this.pending.get(key) === started) this.pending.delete(key);
      });
    }
    return p;
  }

  /** The promise for `key` if there is one (without starting anything). */
  peek(key: K): Promise<V> | undefined {
    return this.pending.get(key);
  }

  /** Records a value known without work (e.g. from a listing). */
  set(key: K, value: V): void {
    this.pending.set(key, Promise.resolve(value));
  }

  /** Forgets the keys `drop` selects. */
  forget(drop: (key: K) => boolean): void {
    for (const k of [...this.pending.keys()]) if (drop(k)) this.pending.delete(k);
  }
}
