/**
 * A connection's `admittedAt` and `idleForMs` on its ConnectionHandle, on simulated time:
 * what counts as activity (an application message, and a send() under `activity: 'both'`)
 * moves `idleForMs` back to 0; pings, pongs and the heartbeat's keepalive message do not.
 * Real sockets on loopback; the clock moves only when the test says.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/index.js';
import type { ActivityMode } from '../../src/options.js';
import { startRulesServer, touch } from '../helpers/rules.js';

const heartbeatIntervalMs = 1_000;

/** A ping from the client and its pong: every frame the client sent before it has been read. */
async function roundTrip(ws: import('ws').WebSocket): Promise<void> {
  const pong = once(ws, 'pong');
  ws.ping();
  await pong;
}

describe('ConnectionHandle: admittedAt and idleForMs', () => {
  for (const activity of ['both', 'inbound'] as ActivityMode[]) {
    it(`counts what is activity under activity: '${activity}'`, async () => {
      const t = await startRulesServer({
        activity,
        idleTimeoutMs: 60_000, // never idle here: only the fields move
        heartbeatIntervalMs,
        heartbeatMessage: 'keepalive',
      });
      const { supervisor, clock } = t;
      clock.increment(5_000); // a SimulatedClock starts at 0: admit at 5000

      // While connecting (in the admitted listener): admitted now, idle since admission.
      const atAdmission: Array<{ admittedAt: number; idleForMs: number; socket: unknown }> = [];
      supervisor.on('admitted', ({ connectionId }) => {
        const handle = supervisor.connection(connectionId);
        if (handle !== undefined)
          atAdmission.push({
            admittedAt: handle.admittedAt,
            idleForMs: handle.idleForMs,
            socket: handle.socket,
          });
      });
      const { ws, id, handle } = await t.open('42');
      expect(atAdmission).toEqual([{ admittedAt: 5_000, idleForMs: 0, socket: undefined }]);
      expect(handle.admittedAt).toBe(5_000);
      expect(handle.idleForMs).toBe(0);
      // Every way the API hands it out is the same handle.
      expect(supervisor.connection(id)).toBe(handle);
      expect(supervisor.connectionsOf('42')).toEqual([handle]);

      // Pings and pongs from the client: liveness, not activity.
      clock.increment(300);
      ws.pong();
      await roundTrip(ws);
      expect(handle.idleForMs).toBe(300);

      // The heartbeat (a ping and the keepalive message) and the client's pong: not activity either.
      const keepalive = once(ws, 'message');
      const ping = once(ws, 'ping');
      clock.increment(heartbeatIntervalMs - 300); // the first heartbeat, 1 s after the open
      await Promise.all([keepalive, ping]);
      await roundTrip(ws); // its automatic pong has reached the server
      expect(((await keepalive)[0] as Buffer).toString()).toBe('keepalive');
      expect(handle.idleForMs).toBe(heartbeatIntervalMs);

      // A message from the client counts (the echo server answers it: at the same time).
      clock.increment(200);
      expect(handle.idleForMs).toBe(1_200);
      await touch(ws);
      expect(handle.idleForMs).toBe(0);

      // A message from the server: activity under 'both' only.
      clock.increment(100);
      const sent = once(ws, 'message');
      expect(handle.send('news')).toBe(true);
      await sent;
      expect(handle.idleForMs).toBe(activity === 'both' ? 0 : 100);
      expect(handle.admittedAt).toBe(5_000);

      // Disposed: the handle still answers; idle time counts on from the last activity.
      const disposed = new Promise<void>((resolve) => supervisor.on('disposed', () => resolve()));
      ws.close();
      await disposed;
      expect(supervisor.connection(id)).toBeUndefined();
      const idleAtDisposal = handle.idleForMs;
      clock.increment(50);
      expect(handle.idleForMs).toBe(idleAtDisposal + 50);
      expect(handle.admittedAt).toBe(5_000);
      expect(Object.isFrozen(handle)).toBe(true);
    });
  }

  it('gives the same handle to the hooks as the registry', async () => {
    const seen: ConnectionHandle[] = [];
    const t = await startRulesServer({ onMessage: (connection) => void seen.push(connection) });
    t.clock.increment(42);
    const { ws, handle } = await t.open('7');
    await roundTrip(ws);
    ws.send('hello');
    await roundTrip(ws);
    expect(seen).toEqual([handle]);
    expect(seen[0]?.admittedAt).toBe(42);
  });
});
