/**
 * README claims of "Testing your app" not proven elsewhere: a clock of the
 * app's own needs `now()` on the time its timers keep (without it, activity
 * is stamped with Date.now(), and on simulated timers no connection ever
 * turns idle), and any object of the clock's shape will do; the shutdown
 * deadline is on that clock too, deadlineMs: 0 included. Real ws on port 0.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { stopReading } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, nextMessage, startServer } from '../helpers/server.js';

describe('a clock of your own (README: it needs now())', () => {
  // One rule per test: no heartbeat in the time covered.
  const options = { maxConnectionsPerUser: 5, heartbeatIntervalMs: 3_600_000 } as const;

  it('with now(): a plain object of the clock’s shape drives idleness on simulated time', async () => {
    const simulated = new SimulatedClock();
    const clock = {
      setTimeout: (fn: (...args: unknown[]) => void, ms: number) => simulated.setTimeout(fn, ms),
      clearTimeout: (id: unknown) => simulated.clearTimeout(id as ReturnType<SimulatedClock['setTimeout']>),
      now: () => simulated.now(),
    };
    const server = await startServer({ ...options, clock });
    const ws = await connect(server.url('ivy'));
    ws.send('hello');
    expect(await nextMessage(ws)).toBe('hello');
    simulated.increment(server.supervisor.options.idleTimeoutMs);
    expect(server.supervisor.userStats('ivy')).toMatchObject({ live: 1, idle: 1 });
    ws.close();
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('without now(): activity is stamped with Date.now(), and no connection ever turns idle on simulated timers', async () => {
    const simulated = new SimulatedClock();
    const clock = {
      setTimeout: (fn: (...args: unknown[]) => void, ms: number) => simulated.setTimeout(fn, ms),
      clearTimeout: (id: unknown) => simulated.clearTimeout(id as ReturnType<SimulatedClock['setTimeout']>),
    };
    const server = await startServer({ ...options, clock });
    const ws = await connect(server.url('jon'));
    ws.send('hello');
    expect(await nextMessage(ws)).toBe('hello');
    const { idleTimeoutMs } = server.supervisor.options;
    for (let i = 0; i < 10; i += 1) simulated.increment(idleTimeoutMs);
    expect(server.supervisor.userStats('jon')).toMatchObject({ live: 1, idle: 0 });
    ws.close();
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('the shutdown deadline on a SimulatedClock (README: on the clock too, deadlineMs: 0 included)', () => {
  /** A settled-or-not probe of shutdown(), after some real I/O turns (which move no simulated time). */
  async function afterIoTurns() {
    for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
  }

  it.each<[string, number | undefined, number]>([
    ['deadlineMs 0', 0, 0],
    ['deadlineMs 300', 300, 300],
    ['the default deadline (drainTimeoutMs, 500 in the test preset)', undefined, 500],
  ])(
    '%s: a client that never answers its 1001 holds shutdown() until the clock passes it',
    async (_name, deadlineMs, endsAt) => {
      const clock = new SimulatedClock();
      const server = await startServer({ clock, heartbeatIntervalMs: 3_600_000 });
      const ws = await connect(server.url('kai'));
      stopReading(ws); // it never reads the 1001, so it never answers it
      let settled = false;
      const done = server.supervisor.shutdown(deadlineMs === undefined ? {} : { deadlineMs }).then(() => {
        settled = true;
      });
      // Real time passes, the simulated clock does not: nothing ends it, not even a 0 ms delay.
      await afterIoTurns();
      expect([settled, server.supervisor.stats().connections]).toEqual([false, 1]);
      if (endsAt > 0) {
        clock.increment(endsAt - 1);
        await afterIoTurns();
        expect([settled, server.supervisor.stats().connections]).toEqual([false, 1]);
      }
      clock.increment(endsAt === 0 ? 0 : 1);
      expect(server.supervisor.stats().connections).toBe(0); // terminated in this call
      await done;
      expect(server.disposed.map((event) => event.reason)).toEqual(['shutdown']);
      expectNoLeaks(server.supervisor);
    },
  );

  it('a deadline beyond drainTimeoutMs: the connection is terminated at its drainTimeoutMs, which comes first', async () => {
    const clock = new SimulatedClock();
    const server = await startServer({ clock, heartbeatIntervalMs: 3_600_000 });
    const ws = await connect(server.url('lea'));
    stopReading(ws);
    const done = server.supervisor.shutdown({ deadlineMs: 5_000 });
    clock.increment(server.supervisor.options.drainTimeoutMs - 1);
    expect(server.supervisor.stats().connections).toBe(1);
    clock.increment(1);
    expect(server.supervisor.stats().connections).toBe(0);
    await done;
    expect(server.disposed.map((event) => event.reason)).toEqual(['shutdown']);
    expectNoLeaks(server.supervisor);
  });
});

describe('a greeting sent in onOpen (README: listen for it before the handshake completes)', () => {
  // The greeting goes out with the handshake's 101 and ws reads it on a process.nextTick after
  // 'open', before the promise of `once(ws, 'open')` lets the test go on.
  const greets = { onOpen: (connection: { send(data: string): boolean }) => connection.send('hello') };

  it('is gone for a listener added after `await once(ws, "open")`', async () => {
    const server = await startServer(greets);
    const ws = new WebSocket(server.url('kim'));
    onTestFinished(() => ws.terminate());
    const seen: string[] = [];
    ws.on('message', (data) => seen.push(String(data))); // the witness, there from the start
    await once(ws, 'open');
    const late: string[] = [];
    ws.on('message', (data) => late.push(String(data)));
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('ping');
    expect([seen, late]).toEqual([['hello', 'ping'], ['ping']]);
  });

  it('is caught by a listener added before', async () => {
    const server = await startServer(greets);
    const ws = new WebSocket(server.url('lou'));
    onTestFinished(() => ws.terminate());
    const greeting = once(ws, 'message');
    await once(ws, 'open');
    expect(String((await greeting)[0])).toBe('hello');
  });
});
