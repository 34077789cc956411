/**
 * A herd: many clients of one server lose it at the same moment (a crash, a
 * deploy). What an SRE checks is that they do not all come back in the same
 * instant: each client draws its own jitter (Math.random, the default), so
 * their first retries spread over the window the close code gives, and all of
 * them are back once they have waited it. The clients' delays run on simulated
 * clocks, so the spread is read from the delays they chose, not from timing;
 * the server and the sockets are real.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { startClient, type TestClient } from './helpers.js';

const herd = 100;

async function startHerd(): Promise<{ server: WebSocketServer; clients: TestClient[] }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as { port: number };
  // random: Math.random is the default (startClient fixes it otherwise): each client its own draws.
  const clients = Array.from({ length: herd }, () =>
    startClient({ url: `ws://127.0.0.1:${port}/`, random: Math.random }),
  );
  await Promise.all(clients.map((t) => t.next('open', 0)));
  return { server, clients };
}

/** How many of `delays` fall in each of 10 equal bins of [0, windowMs] (a rounded draw may be windowMs). */
function bins(delays: number[], windowMs: number): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const delay of delays) {
    const bin = Math.min(9, Math.floor((delay / windowMs) * 10));
    counts[bin] = (counts[bin] ?? 0) + 1;
  }
  return counts;
}

describe('a herd of 100 clients losing their server at once', () => {
  it.each([
    ['killed (1006): first retries spread over the first backoff window, 500 ms', 'kill', 500],
    ['shut down (1001): returns spread over shutdownWindowMs, 10 s', 'shutdown', 10_000],
  ] as const)('%s, and every one is back after it', async (_name, how, windowMs) => {
    const { server, clients } = await startHerd();
    const marks = clients.map((t) => t.mark());
    for (const ws of server.clients) {
      if (how === 'kill') ws.terminate();
      else ws.close(1001, 'server shutting down');
    }
    const waits = await Promise.all(clients.map((t, i) => t.next('reconnecting', marks[i])));
    const delays = waits.map(({ delayMs }) => delayMs);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(windowMs); // the draw times the window, rounded to the ms
    }
    // Spread, not bunched: with 100 uniform draws in 10 bins (10 each on average), a bin
    // past 30 or fewer than 8 bins used has odds below one in a million.
    const counts = bins(delays, windowMs);
    expect(Math.max(...counts)).toBeLessThanOrEqual(30);
    expect(counts.filter((count) => count > 0).length).toBeGreaterThanOrEqual(8);
    // Nobody came back early: each waits its own delay, then connects.
    expect(clients.every((t) => t.client.state === 'waiting')).toBe(true);
    for (const [i, t] of clients.entries()) t.simulated.increment(delays[i] as number);
    await Promise.all(clients.map((t, i) => t.next('open', marks[i])));
    expect(server.clients.size).toBe(herd);
  });
});
