/**
 * Churn: 2,000 open / message / close cycles over 20 users, half closed
 * cleanly and half dropped, must leave nothing behind.
 */
import { once } from 'node:events';
import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { allDisposed, expectNoLeaks, startServer } from '../helpers/server.js';

const cycles = 2_000;
const users = 20;
const concurrency = 50;

async function cycle(url: string, drop: boolean): Promise<void> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  ws.send('ping');
  const [reply] = (await once(ws, 'message')) as [Buffer];
  if (reply.toString() !== 'ping') throw new Error(`unexpected echo ${reply.toString()}`);
  const gone = once(ws, 'close');
  if (drop) ws.terminate();
  else ws.close();
  await gone;
}

it(`${cycles} cycles over ${users} users leave zero actors, timers and listeners`, async () => {
  // Production limits (20 per user): at most 50 in flight over 20 users never hits them.
  const t = await startServer({ preset: 'production' });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cycles) {
        const n = next++;
        await cycle(t.url(`user-${n % users}`), n % 2 === 1);
      }
    }),
  );
  await allDisposed(t.supervisor);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `churn: ${cycles} cycles in ${seconds.toFixed(2)} s (${Math.round(cycles / seconds)} cycles/s, client and server in one process)`,
  );

  expectNoLeaks(t.supervisor);
  const { counters } = t.supervisor.stats();
  expect(counters).toEqual({ admitted: cycles, rejected: 0, evicted: 0, disposed: cycles });
  const reasons = new Set(t.disposed.map((event) => event.reason));
  expect(reasons).toEqual(new Set(['closed']));
  expect(t.errors).toEqual([]);
});
