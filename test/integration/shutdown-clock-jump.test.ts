/**
 * A shutdown whose clock jumps past its deadline in one step (an injected
 * SimulatedClock advanced at once, or an event loop stalled that long): the
 * deadline then fires before the pace's later batches, with a connection
 * that the first batch drained ended by its drainTimeout in the same jump,
 * so its user's supervisor lingers, never told SHUTDOWN. Found by a new-user
 * trial: the deadline's terminateAll sent that supervisor SHUTDOWN, which
 * ended it, then TERMINATE, and XState's development build printed `Event
 * "TERMINATE" was sent to stopped actor`. Real server on port 0, real ws
 * clients, default options (lingerMs 5 s) but for the clock.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { createSupervisor, type SupervisorError, type SupervisorOptions } from '../../src/index.js';
import { closeServer, expectNoInternalErrors, expectNoLeaks, listenOnLoopback } from '../helpers/server.js';

type ShutdownArgs = Parameters<ReturnType<typeof createSupervisor>['shutdown']>[0];

/** What XState (or anything else) printed on console.warn / console.error / stderr while `run` ran. */
async function printedDuring(run: () => Promise<void>): Promise<string[]> {
  const printed: string[] = [];
  const warn = vi.spyOn(console, 'warn').mockImplementation((...args) => void printed.push(args.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...args) => void printed.push(args.join(' ')));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    await run();
  } finally {
    warn.mockRestore();
    error.mockRestore();
    stderr.mockRestore();
  }
  return printed;
}

async function start(options: Partial<SupervisorOptions> = {}) {
  const clock = new SimulatedClock();
  const errors: SupervisorError[] = [];
  const supervisor = createSupervisor({
    clock,
    authenticate: (request) => new URL(request.url ?? '/', 'http://x').searchParams.get('user') ?? 'u',
    onError: (error) => errors.push(error),
    ...options,
  });
  const server = createServer();
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    const done = supervisor.shutdown({ deadlineMs: 0 });
    clock.increment(1_000_000);
    await done;
    await closeServer(server);
    expectNoInternalErrors(errors);
  });
  const open = async (user: string) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=${user}`);
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    return ws;
  };
  return { clock, supervisor, open };
}

const cases: Array<{
  name: string;
  options?: Partial<SupervisorOptions>;
  shutdown: ShutdownArgs;
  /** Before shutdown(): users whose one client closes first (their supervisor lingers). */
  closeFirst?: string[];
}> = [
  // The trial's repro: default drainTimeoutMs (5 s) ends with the deadline (5 s).
  {
    name: 'paced, defaults (the trial)',
    shutdown: { deadlineMs: 5000, pace: { windowMs: 2500, batches: 5 } },
  },
  // drainTimeout well before the deadline: the drained child surely ends first.
  {
    name: 'paced, drainTimeoutMs 1000',
    options: { drainTimeoutMs: 1000 },
    shutdown: { deadlineMs: 5000, pace: { windowMs: 2500, batches: 5 } },
  },
  // Unpaced: every supervisor is told SHUTDOWN at once, before any jump.
  { name: 'unpaced, jump past drainTimeoutMs', shutdown: { deadlineMs: 5000 } },
  // One user's supervisor lingers when shutdown starts; the other's child is drained by the jump.
  {
    name: 'paced, a supervisor lingering at the start',
    shutdown: { deadlineMs: 5000, pace: { windowMs: 2500, batches: 5 } },
    closeFirst: ['gone'],
  },
];

describe('shutdown with a clock that jumps past the deadline', () => {
  for (const { name, options, shutdown, closeFirst = [] } of cases) {
    it(`${name}: nothing is sent to a stopped actor, and everything is disposed`, async () => {
      const t = await start(options);
      const clients = await Promise.all(['ann', 'bob', ...closeFirst].map((user) => t.open(user)));
      for (const ws of clients.slice(2)) ws.close();
      await vi.waitFor(() =>
        expect(t.supervisor.stats().resources.lingeringSupervisors).toBe(closeFirst.length),
      );
      expect(t.supervisor.stats().connections).toBe(2);
      const printed = await printedDuring(async () => {
        const done = t.supervisor.shutdown(shutdown);
        t.clock.increment(5000);
        await done;
      });
      expect(printed.filter((line) => /stopped actor/.test(line))).toEqual([]);
      expect(t.supervisor.audit().ok).toBe(true);
      expectNoLeaks(t.supervisor);
    });
  }
});
