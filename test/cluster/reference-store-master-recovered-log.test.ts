/**
 * The reference server's line for the end of a Redis Cluster master's outage. That master's
 * breaker closes when it answers again, and also when a failover removed the master (its slots
 * went to another, which serves its users: StoreBreakers.prune tells it closed): the line said
 * `Redis master <host:port> answers`, untrue of a master that is gone. It now says what holds in
 * both cases. Here one master stops answering (CLIENT PAUSE, as cluster-master-breaker does) while
 * the cluster stays up, on real sockets and a real 3-master cluster.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { startReferenceServer } from '../../examples/reference-server/server.js';
import { httpRefusal } from '../helpers/refusals.js';
import { ioWait } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateCluster } from './store-fixture.js';

/** How long the user's master is paused: the refusal that opens its breaker fits well inside it. */
const PAUSE_MS = 3_000;

describe.runIf(hasRedis)("the reference server's line when a Redis Cluster master's outage ends", () => {
  const cluster = usePrivateCluster();

  it('says that master\'s users are served again, once, and no "answers"', async () => {
    const c = cluster.current;
    const keyPrefix = freshPrefix();
    // A user whose book is off the registry's master (the lease keeps renewing meanwhile).
    const registry = (await c.masterOf(`${keyPrefix}:{nodes}:leases`)).port;
    let user = '';
    let port = 0;
    for (let i = 0; port === 0 && i < 200; i++) {
      const master = await c.masterOf(`${keyPrefix}:{u:user${i}}:slots`);
      if (master.port !== registry) [user, port] = [`user${i}`, master.port];
    }
    const lines: string[] = [];
    const server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test' },
        cluster: {
          redis: { rootNodes: [...c.urls] },
          nodeId: 's',
          keyPrefix,
          leaseTtlMs: 3_000,
          commandTimeoutMs: 200,
          onStoreUnavailable: 'reject',
        },
      },
      (line) => void lines.push(line),
    );
    onTestFinished(() => server.close());
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);

    await c.command(port, 'CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const paused = Date.now();
    onTestFinished(() => new Promise((resolve) => setTimeout(resolve, PAUSE_MS - (Date.now() - paused))));
    // Refused until the master's breaker opens (a few failed calls in a row).
    for (let i = 0; i < 3; i++) expect((await httpRefusal(`${server.url}/?user=${user}`)).status).toBe(503);
    expect(server.supervisor.stats().cluster?.unavailableShards).toEqual([`127.0.0.1:${port}`]);

    await vi.waitFor(
      () =>
        expect(lines.filter((line) => line.startsWith('store available again'))).toEqual([
          `store available again: the users of Redis master 127.0.0.1:${port} are served again`,
        ]),
      { timeout: PAUSE_MS + 10_000, interval: 50 },
    );
  }, 30_000);
});
