/**
 * README, "Options", `heartbeatMessage`: "Like the ping it proves liveness,
 * not activity: it never keeps a connection from going idle." With the
 * default `activity: 'both'` every send counts as activity, so the keepalive
 * frame must not go through that path. Real sockets and a SimulatedClock:
 * the clients answer every ping and receive every keepalive, and still turn
 * idle at idleTimeoutMs and are evicted at the threshold.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import {
  type Client,
  evictAt,
  idleTimeoutMs,
  type RulesServer,
  startRulesServer,
  touch,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

const heartbeatIntervalMs = 200;

/** One heartbeat: every client gets its ping (answered) and its keepalive. */
async function heartbeat(t: RulesServer, clients: Client[]): Promise<void> {
  const pongs = clients.map(({ handle }) => once(handle.socket as WebSocket, 'pong'));
  const keepalives = clients.map(({ ws }) => once(ws, 'message'));
  t.clock.increment(heartbeatIntervalMs);
  await Promise.all(pongs);
  for (const [data] of (await Promise.all(keepalives)) as [Buffer][]) expect(data.toString()).toBe('hb');
}

describe('heartbeatMessage proves liveness, not activity', () => {
  it('a connection that only gets pings and keepalives turns idle at idleTimeoutMs, and is evicted at T', async () => {
    const t = await startRulesServer({ heartbeatIntervalMs, heartbeatMessage: 'hb' });
    const clients: Client[] = [];
    for (let n = 0; n < evictAt - 1; n += 1) clients.push(await t.open('hb'));
    for (const { ws } of clients) await touch(ws); // activity at 0

    // idleTimeoutMs of heartbeats, each with its keepalive: no application message either way.
    for (let beat = 0; beat < idleTimeoutMs / heartbeatIntervalMs; beat += 1) await heartbeat(t, clients);
    expect(t.supervisor.stats().idle).toBe(evictAt - 1);
    expect(t.supervisor.userStats('hb')).toMatchObject({ live: evictAt - 1, idle: evictAt - 1 });

    // The newcomer makes n = T: an idle one goes, as any idle connection would.
    const evictedClose = once((clients[0] as Client).ws, 'close');
    const newcomer = await t.open('hb');
    expect(t.events.evicted).toMatchObject([{ connectionId: (clients[0] as Client).id, cause: 'idle' }]);
    const [code] = (await evictedClose) as [number];
    expect(code).toBe(4001);

    for (const { ws } of [...clients, newcomer]) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
