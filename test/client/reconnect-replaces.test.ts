/**
 * The whole story of README "Reconnects replace their earlier connection", end to end:
 * ws-supervisor/client talks to a real supervisor through a TCP proxy. The proxy then
 * plays a network change: it resets the client's side of every connection (the client
 * sees 1006 and reconnects) and leaves the server's side open and silent, as a phone
 * leaving Wi-Fi leaves it (no close, no FIN). The server's clock never moves, so only the
 * reconnect can free that slot; with a limit of 1 the user would otherwise get 429.
 */
import { createServer, Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { EvictedEvent, RejectedEvent } from '../../src/index.js';
import { listenOnLoopback, startServer } from '../helpers/server.js';
import { startClient } from './helpers.js';

/** A TCP proxy to `port` whose `changeNetwork()` cuts the clients off and leaves the server hanging. */
async function networkProxy(port: number) {
  const pairs = new Set<{ client: Socket; server: Socket }>();
  const proxy = createServer((client) => {
    const server = new Socket();
    const pair = { client, server };
    pairs.add(pair);
    server.connect(port, '127.0.0.1');
    client.pipe(server);
    server.pipe(client);
    client.on('error', () => {});
    server.on('error', () => {});
    client.on('close', () => pairs.delete(pair));
  });
  const proxyPort = await listenOnLoopback(proxy as never);
  const abandoned: Socket[] = [];
  onTestFinished(async () => {
    for (const { client, server } of pairs) {
      client.destroy();
      server.destroy();
    }
    for (const server of abandoned) server.destroy();
    proxy.close();
  });
  return {
    port: proxyPort,
    /** The client's side is reset; the server's stays open, and hears nothing more. */
    changeNetwork() {
      for (const pair of pairs) {
        pair.client.unpipe(pair.server);
        pair.server.unpipe(pair.client);
        pair.server.pause();
        abandoned.push(pair.server);
        pair.client.resetAndDestroy();
        pairs.delete(pair);
      }
    },
  };
}

describe('a client whose network changed comes back at the limit', () => {
  it('is admitted at once, replacing the connection it left behind (4001 evicted: superseded)', async () => {
    const t = await startServer({ maxConnectionsPerUser: 1, clock: new SimulatedClock() });
    const evicted: EvictedEvent[] = [];
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('evicted', (event) => evicted.push(event));
    t.supervisor.on('rejected', (event) => rejected.push(event));
    const network = await networkProxy(t.port);
    const c = startClient({ url: `ws://127.0.0.1:${network.port}/?user=ann` });
    await c.next('open');
    const [before] = t.supervisor.connectionsOf('ann');

    const from = c.mark();
    network.changeNetwork();
    expect(await c.next('close', from)).toMatchObject({ code: 1006, next: 'reconnect' });
    const { delayMs } = await c.next('reconnecting', from);
    // The server has heard nothing: the old connection still holds the user's one slot.
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1 });
    c.simulated.increment(delayMs);
    await c.next('open', from);

    expect(rejected).toEqual([]);
    expect(evicted).toEqual([{ connectionId: before?.id, userId: 'ann', cause: 'superseded' }]);
    const [after] = t.supervisor.connectionsOf('ann');
    expect(after?.id).not.toBe(before?.id);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1 });
    // The new connection is the one that works.
    const echoed = c.next('message', c.mark());
    expect(c.client.send('still here')).toBe(true);
    expect(await echoed).toMatchObject({ data: 'still here' });
    c.client.close();
  });

  it('without an instance id (instance: false), is refused with 429 until the heartbeat finds the old one', async () => {
    const t = await startServer({ maxConnectionsPerUser: 1, clock: new SimulatedClock() });
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    const network = await networkProxy(t.port);
    const c = startClient({ url: `ws://127.0.0.1:${network.port}/?user=bea`, instance: false });
    await c.next('open');
    const from = c.mark();
    network.changeNetwork();
    const { delayMs } = await c.next('reconnecting', from);
    c.simulated.increment(delayMs);
    await c.next('reconnecting', c.mark());
    expect(rejected.map((event) => event.reason)).toEqual(['user-limit']);
    c.client.close();
  });
});
