/**
 * Virtual time for the soak and the in-memory benchmarks. XState's
 * SimulatedClock re-sorts every pending timeout on each advance, and again
 * whenever a firing timer schedules or cancels another: with thousands of
 * connections (two delays each) that sort dominated the soak. This clock
 * keeps a binary heap ordered by due time, so an advance costs O(log n) per
 * timer that fires, and a cancelled timer is skipped when it surfaces.
 */
import type { SupervisorOptions } from '../src/index.js';

/** The clock the supervisor accepts (its `clock` option): the public type. */
type Clock = NonNullable<SupervisorOptions['clock']>;

interface Entry {
  due: number;
  id: number;
}

export class VirtualClock implements Clock {
  #now = 0;
  #nextId = 1;
  readonly #heap: Entry[] = [];
  readonly #callbacks = new Map<number, () => void>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, timeout: number): number {
    const id = this.#nextId++;
    this.#callbacks.set(id, fn);
    this.#push({ due: this.#now + timeout, id });
    return id;
  }

  clearTimeout(id: number): void {
    this.#callbacks.delete(id);
  }

  /** Advances time by `ms`, firing every timer that falls due, in due order (ties: in scheduling order). */
  increment(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.due > target) break;
      this.#pop();
      const fn = this.#callbacks.get(top.id);
      if (fn === undefined) continue;
      this.#callbacks.delete(top.id);
      this.#now = top.due;
      fn();
    }
    this.#now = target;
  }

  #before(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.id < b.id);
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(heap[i] as Entry, heap[parent] as Entry)) break;
      [heap[i], heap[parent]] = [heap[parent] as Entry, heap[i] as Entry];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop() as Entry;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.#before(heap[left] as Entry, heap[smallest] as Entry)) smallest = left;
      if (right < heap.length && this.#before(heap[right] as Entry, heap[smallest] as Entry))
        smallest = right;
      if (smallest === i) break;
      [heap[i], heap[smallest]] = [heap[smallest] as Entry, heap[i] as Entry];
      i = smallest;
    }
  }
}
