/**
 * A delay that comes due while the event loop is stalled (a GC pause, a busy callback, a
 * starved CPU) must not beat the I/O that arrived before its deadline. After a stall Node runs
 * the timers phase before the poll phase reads the sockets: the idle delay found the message
 * still unread in the kernel's buffer and evicted a connection that had spoken well within its
 * window, and the pong delay ended a peer whose pong had arrived.
 *
 * Real time on purpose: this is about the order of the loop's phases, which no injected clock
 * has. The stall is a synchronous busy wait in this process, past the deadline; the tests assert
 * only what a user sees, with a control that the same stall without the message (or the pong)
 * does end the connection, so that they can fail.
 */
import { once } from 'node:events';
import { expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import type { EvictedEvent } from '../../src/index.js';
import { connect, nextMessage, startServer } from '../helpers/server.js';

/** Blocks this process's event loop until `until` (Date.now()), as a long GC pause would. */
function stallUntil(until: number): void {
  while (Date.now() < until) {
    // busy: no timer, no I/O runs
  }
}

/**
 * Calls `fn` once `ms` real milliseconds after `from` (Date.now()), from the check phase: a
 * stall there is followed by the timers phase of the next loop turn, then its poll phase. (A
 * stall inside a timer's callback is not: Node goes on to the poll phase before it runs the
 * timers that came due meanwhile.)
 */
function at(from: number, ms: number, fn: () => void): void {
  const timer = setTimeout(() => setImmediate(fn), Math.max(0, from + ms - Date.now()));
  onTestFinished(() => clearTimeout(timer));
}

const idleTimeoutMs = 1_000;

async function idleServer() {
  // T = 1: an idle connection is evicted as soon as it is idle.
  const t = await startServer({ maxConnectionsPerUser: 1, idleTimeoutMs, heartbeatIntervalMs: 3_600_000 });
  const evicted: EvictedEvent[] = [];
  t.supervisor.on('evicted', (event) => evicted.push(event));
  return { ...t, evicted };
}

it('a message that arrived before the idle deadline keeps the connection, though the loop stalls past it', async () => {
  const t = await idleServer();
  const ws = await connect(t.url('ann'));
  const closed = once(ws, 'close').then(([code]) => `closed ${code}`);
  const opened = Date.now();
  const stalled = new Promise<void>((resolve) =>
    at(opened, idleTimeoutMs - 400, () => {
      ws.send('still here');
      stallUntil(opened + idleTimeoutMs + 300);
      resolve();
    }),
  );
  await stalled;
  // The echo: the server has read it, after the stall, and its deferred idle check ran in the
  // same loop turn, before the echo could be read here: an eviction would be known by now.
  expect(await Promise.race([nextMessage(ws), closed])).toBe('still here');
  expect(t.evicted).toEqual([]);
  expect(ws.readyState).toBe(WebSocket.OPEN);
  expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1, idle: 0 });
});

it('control: the same stall with no message evicts the connection as idle', async () => {
  const t = await idleServer();
  const ws = await connect(t.url('bea'));
  const closed = once(ws, 'close');
  const opened = Date.now();
  at(opened, idleTimeoutMs - 400, () => stallUntil(opened + idleTimeoutMs + 300));
  const [code] = await closed;
  expect(code).toBe(4001);
  expect(t.evicted).toMatchObject([{ userId: 'bea', cause: 'idle' }]);
});

const heartbeatIntervalMs = 500;

/** A peer that answers the first ping only when `answer` says, 300 ms before its deadline. */
async function stalledPeer(user: string, answer: boolean) {
  const t = await startServer({ heartbeatIntervalMs, idleTimeoutMs: 3_600_000 });
  const ws = await connect(t.url(user), { autoPong: false });
  const closed = once(ws, 'close');
  await once(ws, 'ping');
  const pinged = Date.now(); // no earlier than the server sent it: its pong deadline is before + H
  const stalled = new Promise<void>((resolve) =>
    at(pinged, heartbeatIntervalMs - 300, () => {
      if (answer) ws.pong();
      stallUntil(pinged + heartbeatIntervalMs + 300);
      resolve();
    }),
  );
  await stalled;
  return { t, ws, closed };
}

it('a pong that arrived before its deadline keeps the peer, though the loop stalls past it', async () => {
  const { t, ws, closed } = await stalledPeer('cy', true);
  // The next ping: the server took the pong and went on with its heartbeat.
  const next = await Promise.race([once(ws, 'ping').then(() => 'pinged'), closed.then(() => 'closed')]);
  expect(next).toBe('pinged');
  expect(t.disposed).toEqual([]);
  expect(ws.readyState).toBe(WebSocket.OPEN);
  expect(t.supervisor.userStats('cy')).toMatchObject({ live: 1 });
});

it('control: the same stall with no pong ends the peer as dead', async () => {
  const { t, closed } = await stalledPeer('dee', false);
  const [code] = await closed;
  expect(code).toBe(1006);
  expect(t.disposed).toMatchObject([{ userId: 'dee', reason: 'dead-peer' }]);
});
