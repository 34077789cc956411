/**
 * Dead peers: raw TCP clients that completed the handshake and then never
 * answer anything (no pong, no close, no FIN), the way a peer behind a dead
 * NAT or a crashed host looks from the server. The heartbeat finds them: a
 * ping at one interval, terminated as `dead-peer` at the next. A peer that
 * answers stays. Time is the injected clock.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  attempt,
  expectLeakFree,
  ioDeadlineMs,
  serverFrames,
  serverHungUp,
  startTarget,
  type Target,
  until,
  within,
} from '../helpers/adversary.js';
import { connectionCount, rawWebSocket } from '../helpers/cleanup.js';
import { limit } from '../helpers/rules.js';
import { connect } from '../helpers/server.js';

const heartbeatIntervalMs = 100;

/** `count` silent raw peers of `user`, each with a reader of the server's frames. */
async function silentPeers(t: Target, user: string, count: number) {
  return Promise.all(
    Array.from({ length: count }, async () => {
      // allowHalfOpen: even a FIN from the server gets no answer.
      const socket = await rawWebSocket(t.port, user, { allowHalfOpen: true });
      return { socket, frames: serverFrames(socket) };
    }),
  );
}

/** Resolves when the server socket of the `index`-th connection has received a pong. */
function pongReceived(t: Target, index: number): Promise<unknown> {
  const socket = t.handles[index]?.socket;
  if (socket === undefined) throw new Error(`no server socket at ${index}`);
  return once(socket, 'pong');
}

describe('dead peers', () => {
  it('silent peers are terminated at the second heartbeat; the peer that answers stays', async () => {
    const t = await startTarget({ supervisor: { heartbeatIntervalMs } });
    const dead = await silentPeers(t, 'dee', 3);
    const alive = await connect(t.url('dee'));
    expect(t.supervisor.userStats('dee')).toMatchObject({ live: 4 });

    const ponged = pongReceived(t, 3);
    t.clock.increment(heartbeatIntervalMs);
    await within(
      Promise.all(dead.map((peer) => peer.frames.ping())),
      ioDeadlineMs,
      'every silent peer to be pinged',
    );
    await within(ponged, ioDeadlineMs, 'the live peer’s pong to reach the server');

    t.clock.increment(heartbeatIntervalMs);
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['dead-peer', 'dead-peer', 'dead-peer']);
    expect(t.supervisor.userStats('dee')).toMatchObject({ live: 1, draining: 0 });
    await within(
      Promise.all(dead.map((peer) => serverHungUp(peer.socket))),
      ioDeadlineMs,
      'the server to hang up on every dead peer',
    );
    await until(
      async () => (await connectionCount(t.server)) === 1,
      'only the live peer’s TCP connection left',
    );
    expect(alive.readyState).toBe(alive.OPEN);

    alive.close();
    await expectLeakFree(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('a user whose every slot is held by dead peers gets all of them back after two heartbeats', async () => {
    const t = await startTarget({ supervisor: { heartbeatIntervalMs } });
    const dead = await silentPeers(t, 'nat', limit);
    const refused = await attempt(t.url('nat'));
    expect(refused).toEqual({ status: 429 });

    t.clock.increment(heartbeatIntervalMs);
    await within(
      Promise.all(dead.map((peer) => peer.frames.ping())),
      ioDeadlineMs,
      'every silent peer to be pinged',
    );
    t.clock.increment(heartbeatIntervalMs);
    expect(t.supervisor.userStats('nat')).toBeUndefined();

    const back = await Promise.all(Array.from({ length: limit }, () => connect(t.url('nat'))));
    expect(t.supervisor.userStats('nat')).toMatchObject({ live: limit });
    for (const ws of back) ws.close();
    await within(
      Promise.all(dead.map((peer) => serverHungUp(peer.socket))),
      ioDeadlineMs,
      'the server to hang up on every dead peer',
    );
    await expectLeakFree(t.supervisor);
    expect(t.events.disposed.filter((event) => event.reason === 'dead-peer')).toHaveLength(limit);
  });
});
