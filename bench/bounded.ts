/** Runs `task(i)` for i < count with at most `limit` in flight; returns each one's [start, end] in performance.now() ms. */
import { performance } from 'node:perf_hooks';

export async function runBounded(
  count: number,
  limit: number,
  task: (i: number) => Promise<void>,
): Promise<[number, number][]> {
  const spans: [number, number][] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const started = performance.now();
      await task(i);
      spans.push([started, performance.now()]);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return spans;
}
