/**
 * A short soak of the client inside `npm test`: one `createClient()` through
 * 2,000 reconnects (bench/client-soak.ts), each ended another way: every
 * close code it reads, HTTP 401 / 429 / 503 with Retry-After, a dropped TCP
 * connection, garbage for a response, an upgrade never answered. In its own
 * process, for `node --expose-gc` and because the process must exit on its
 * own once the client is closed: a socket or timer left behind keeps it alive.
 * `node --expose-gc dist/bench/client-soak.js` runs 6,000.
 */

import { expect, it } from 'vitest';
import { startSoak, verdictOf } from './soak-process.js';

const script = 'dist/bench/client-soak.js';

interface Sample {
  cycles: number;
  heapBytes: number;
  activeResources: Record<string, number>;
  pendingDelays: number;
  listenersOnClosedSockets: number;
  liveSockets: number;
  serverSilentSockets: number;
}

interface ClientSoakResult {
  cycles: number;
  opens: number;
  errors: number;
  requests: number;
  outcomes: Record<string, number>;
  series: Sample[];
  heap: { growthBytesPerCycle: number | undefined };
  sockets: { created: number; collected: number; listenersOnClosed: number };
  afterClose: {
    activeResources: Record<string, number>;
    pendingDelays: number;
    state: string;
    sentAfterClose: boolean;
  };
  failures: string[];
}

const cycles = 2_000;

it(`one client through ${cycles} server-forced reconnects holds a constant number of sockets, listeners and timers, and close() lets the process exit`, {
  timeout: 180_000,
}, async () => {
  const soak = startSoak(script, ['--cycles', String(cycles), '--samples', '8']);
  // The result is printed once the client and the server are closed; from then on the process
  // has nothing left to do and must end by itself (the script never calls process.exit()).
  // (A crash ends the wait too, and fails below with its output.)
  await Promise.race([soak.waitFor(/"failures":\[[^\n]*\}\n/), soak.exited]);
  const exited = await Promise.race([
    soak.exited.then((code) => ({ code })),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20_000)),
  ]);
  expect(
    exited,
    `the process did not exit on its own after close(): something was left behind\n${soak.output()}`,
  ).toEqual({
    code: 0,
  });
  const result = verdictOf<ClientSoakResult>(soak.output());
  expect(result.failures).toEqual([]);
  expect(result.cycles).toBe(cycles);
  // Every way of ending came round: 19 of them, about a hundred times each.
  expect(Object.keys(result.outcomes)).toHaveLength(19);
  expect(Math.min(...Object.values(result.outcomes))).toBeGreaterThan(cycles / 19 - 10);
  expect(result.errors).toBe(0);

  // Whatever the count, the same few: the attempt under way and the last one still closing (the
  // client and server ends of their TCP connections), the server's listener, a few timers. A
  // leak of one per cycle shows as hundreds here.
  expect(result.series).toHaveLength(7);
  for (const sample of result.series) {
    const {
      TCPSocketWrap = 0,
      TCPServerWrap = 0,
      Timeout = 0,
      Immediate = 0,
      ...others
    } = sample.activeResources;
    expect(TCPSocketWrap, `TCP sockets at ${sample.cycles} cycles`).toBeLessThanOrEqual(4);
    expect(TCPServerWrap).toBe(1);
    expect(Timeout, `timers at ${sample.cycles} cycles`).toBeLessThanOrEqual(6);
    // The sample follows gc() calls, stalls of their own: a delay of the clock's queue that came
    // due meanwhile fired late and waits for its run after the I/O (src/timer-queue.ts), one
    // per queue, and this process has one.
    expect(Immediate, `deferred timer runs at ${sample.cycles} cycles`).toBeLessThanOrEqual(1);
    expect(
      Object.keys(others).filter(
        (name) => name !== 'ConnectWrap' && name !== 'TTYWrap' && name !== 'PipeWrap',
      ),
    ).toEqual([]);
    // Open: stableAfter and the silence watch; otherwise one (connect timeout or retry delay).
    expect(sample.pendingDelays, `the client's delays at ${sample.cycles}`).toBeLessThanOrEqual(2);
    expect(sample.listenersOnClosedSockets, `listeners left on closed sockets at ${sample.cycles}`).toBe(0);
    expect(sample.liveSockets, `sockets not yet collected at ${sample.cycles}`).toBeLessThanOrEqual(2);
    expect(sample.serverSilentSockets).toBeLessThanOrEqual(1);
  }
  // Every socket the client made was let go of, and collected.
  expect(result.sockets).toEqual({ created: cycles, collected: cycles, listenersOnClosed: 0 });
  // Past the warm-up the heap (old generation) does not grow with the cycles. A client that kept each closed
  // socket (with its request and buffers, several KB) shows as thousands of bytes per cycle;
  // the bound leaves room for the noise of a sampled heap on a loaded machine.
  expect(result.heap.growthBytesPerCycle).toBeDefined();
  expect(result.heap.growthBytesPerCycle).toBeLessThan(1_000);
  // And close() left nothing: no socket, no timer, no delay (but the pipes of the child's stdio).
  const { PipeWrap: _stdio, ...afterClose } = result.afterClose.activeResources;
  expect({ ...result.afterClose, activeResources: afterClose }).toEqual({
    activeResources: {},
    pendingDelays: 0,
    state: 'closed',
    sentAfterClose: false,
  });
});
