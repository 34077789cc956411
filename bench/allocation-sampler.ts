/**
 * Bytes allocated by a process over a window, by where the allocating code
 * lives, read from V8's sampling heap profiler with the samples of objects
 * already collected kept (`includeObjectsCollectedBy{Minor,Major}GC`). So it
 * counts everything allocated, garbage included: the work a churn cycle
 * gives the allocator and the GC. The machine's load moves it far less than
 * CPU time, with one caveat: code V8 has not optimised yet allocates more
 * (no escape analysis), so a server that ran few cycles before the window
 * reads high.
 *
 * A sample taken in V8's own code (a `Set`, an array grown by `push`) is
 * charged to the nearest JavaScript frame under it, so xstate's Sets count as
 * xstate's.
 */
import { Session } from 'node:inspector/promises';
import { codeGroup } from './code-area.js';

interface SamplingNode {
  callFrame: { url: string };
  selfSize: number;
  children: SamplingNode[];
}

export interface Allocation {
  /** Bytes allocated in the window (an estimate from samples, every `intervalBytes` on average). */
  bytes: number;
  /** The same bytes by where the allocating code lives (see codeGroup). */
  byGroup: Record<string, number>;
}

export class AllocationSampler {
  #session: Session | undefined;

  constructor(private readonly intervalBytes = 4096) {}

  async start(): Promise<void> {
    if (this.#session !== undefined) throw new Error('allocation sampling is already running');
    const session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: this.intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    this.#session = session;
  }

  async stop(): Promise<Allocation> {
    const session = this.#session;
    if (session === undefined) throw new Error('allocation sampling is not running');
    this.#session = undefined;
    try {
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as {
        profile: { head: SamplingNode };
      };
      const byGroup: Record<string, number> = {};
      let bytes = 0;
      const walk = (node: SamplingNode, charged: string) => {
        const group = node.callFrame.url === '' ? charged : codeGroup(node.callFrame.url);
        if (node.selfSize > 0) {
          byGroup[group] = (byGroup[group] ?? 0) + node.selfSize;
          bytes += node.selfSize;
        }
        for (const child of node.children) walk(child, group);
      };
      walk(profile.head, '(vm / gc / native)');
      return { bytes, byGroup };
    } finally {
      session.disconnect();
    }
  }
}
