/**
 * The Redis slot store on Redis Sentinel under harder faults than a kill -9
 * (store-redis-sentinel.test.ts): a primary FROZEN with SIGSTOP (its sockets
 * stay open, it answers nothing, and it comes back later believing it is the
 * primary), and three sentinels of which one is dead before the failover.
 */
import { createSentinel } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { type PrivateRedisSentinel, startRedisSentinel } from '../helpers/redis-sentinel.js';
import { connect, startServer } from '../helpers/server.js';
import { formedAhead } from './formed-ahead.js';
import { eventually, freshPrefix, hasRedis, probeAdmissions, usePrivateSentinel } from './store-fixture.js';

const COMMAND_TIMEOUT_MS = 300;
/** The test preset's maxConnectionsPerUser. */
const LIMIT = 5;

const ownClient = (setup: PrivateRedisSentinel) => ({
  name: setup.name,
  sentinelRootNodes: [...setup.sentinelRootNodes],
});

/** A store on its own sentinel client, started; it records its incarnation changes. */
async function startRecordedStore(redis: ReturnType<typeof ownClient>, keyPrefix: string) {
  const store = createRedisSlotStore({ redis, keyPrefix, nodeId: 'a', commandTimeoutMs: COMMAND_TIMEOUT_MS });
  onTestFinished(() => store.stop());
  const changes: Array<{ incarnation: number; previous: number; cause: string | undefined }> = [];
  await store.start({
    evictionOrdered() {},
    incarnationChanged: (incarnation, previous, cause) => changes.push({ incarnation, previous, cause }),
  });
  return { store, changes };
}

/** The connections in CLIENT LIST's text but the sentinels', the replication link and this helper's own. */
function appConnections(list: unknown): string[] {
  return String(list)
    .split('\n')
    .filter(
      (line) =>
        line.includes('addr=') &&
        !/ name=sentinel-/.test(line) &&
        !/ flags=M /.test(line) &&
        !/ cmd=client\|list /.test(line),
    );
}

describe.runIf(hasRedis)('a frozen primary (SIGSTOP) under one sentinel', () => {
  const sentinel = usePrivateSentinel();

  it('commands fail at their deadlines, the node follows the promoted replica and is fenced; the thawed old primary becomes a replica nothing writes to, and no user goes above the limit', async () => {
    const setup = sentinel.current;
    const keyPrefix = freshPrefix();
    const { store, changes } = await startRecordedStore(ownClient(setup), keyPrefix);
    const first = store.incarnation;
    expect(await store.admit('ann', 'a1', 3, 3)).toMatchObject({ admitted: true });
    // And a supervisor holding sockets, whose runtime renews every 300 ms.
    const server = await startServer({
      cluster: {
        redis: ownClient(setup),
        nodeId: 's',
        keyPrefix,
        leaseTtlMs: 900,
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
      },
    });
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), {
      timeout: 10_000,
    });
    for (let i = 0; i < 3; i++) await connect(server.url('sue'));
    const serverIncarnation = server.supervisor.stats().cluster?.incarnation;
    const sueSlots = `${keyPrefix}:{u:sue}:slots`;
    // Their idle marks (written when each goes idle, a second after it opened) are the book's
    // last change before the freeze: wait for them, so that the book read here is the one frozen
    // (the freeze first waits for the replicas to catch up, long enough on a loaded machine).
    const primary = await setup.primaryPort();
    await eventually(async () => {
      const entries = (await setup.command(primary, 'HVALS', sueSlots)) as string[];
      return entries.length === 3 && entries.every((entry) => entry.split('|')[2] !== '');
    }, 10_000);
    const bookBeforeFreeze = await setup.command(primary, 'HGETALL', sueSlots);

    const probe = probeAdmissions(store);
    const { frozenPort, promotedPort } = await setup.freeze();
    // Fenced: the promoted replica has another run_id. (Until this store has renewed there,
    // its admissions there may be refused: once the supervisor has renewed there, the server
    // key names the promoted replica, and this store's last renewal saw the frozen primary.
    // A runtime renews at once then; this bare store renews here.)
    await eventually(async () => (await store.renew().catch(() => 'failed')) === 'lost', 15_000);
    expect(changes).toEqual([{ incarnation: store.incarnation, previous: first, cause: 'failover' }]);
    await eventually(() => probe.outcomes.at(-1)?.code === 'admitted', 10_000);
    await probe.stop();
    // Nothing hung on the frozen primary: each admission was answered or failed
    // at its deadline (300 ms, 375 with the watchdog's quarter); a hang would
    // last until the socket is dropped (silentSocketMs: 1.2 s) or for ever.
    expect(new Set(probe.outcomes.map((outcome) => outcome.code))).toEqual(
      new Set(['WSSUP_STORE_UNAVAILABLE', 'admitted']),
    );
    expect(Math.max(...probe.outcomes.map((outcome) => outcome.ms))).toBeLessThan(1_000);
    expect(
      await store.readmit(
        [{ userId: 'ann', connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined }],
        3,
      ),
    ).toEqual([]);
    expect(await store.admit('ann', 'a2', 3, 3)).toMatchObject({ admitted: true, live: 2 });

    // The supervisor fences itself and books its three sockets again on the new primary.
    await vi.waitFor(
      async () => {
        const incarnation = server.supervisor.stats().cluster?.incarnation;
        expect(incarnation).not.toBe(serverIncarnation);
        const entries = await setup.command(promotedPort, 'HVALS', sueSlots);
        expect(entries).toEqual(Array(3).fill(expect.stringMatching(new RegExp(`^${incarnation}\\|`))));
        expect(server.supervisor.stats().cluster).toMatchObject({ leaseHeld: true, unsynced: 0 });
      },
      { timeout: 15_000, interval: 50 },
    );

    // From now on, sample the book on the new primary while users try for more
    // than the limit (the idle ones are evicted to make room: the test preset's
    // evictAt), and while the old primary comes back.
    // An entry marked evicted (idleSince `e<ms>`) is leaving, its release on its way: it counts
    // toward the limit for the next admissions, but the book may hold it beside a newcomer that
    // took its place (as a draining connection frees its slot locally). So the live entries stay
    // within the limit, and the whole book within the limit plus sue's three that can be evicted.
    let sampling = true;
    const samples: number[] = [];
    const wholeBook: number[] = [];
    const sampler = (async () => {
      while (sampling) {
        const entries = (await setup.command(promotedPort, 'HVALS', sueSlots)) as string[];
        samples.push(entries.filter((entry) => !/^[es]/.test(entry.split('|')[2] ?? '')).length);
        wholeBook.push(entries.length);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await setup.thaw(frozenPort);
      // Back, it still believes it is the primary and would take writes, until
      // the sentinel demotes it (4 s on): the node has no connection left on it
      // (dropped while it was frozen), and its book is as it was when frozen.
      // (Commands a client had sent before the freeze may run now: they are
      // read from its socket's buffer before the close.)
      await eventually(
        async () => appConnections(await setup.command(frozenPort, 'CLIENT', 'LIST')).length === 0,
        2_000,
      );
      await Promise.all(Array.from({ length: 2 * LIMIT }, () => connect(server.url('sue')).catch(() => {})));
      expect(String(await setup.command(frozenPort, 'INFO', 'replication'))).toContain('role:master');
      expect(await setup.command(frozenPort, 'HGETALL', sueSlots)).toEqual(bookBeforeFreeze);
      await setup.untilDemoted(frozenPort);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(LIMIT);
    expect(Math.max(...wholeBook)).toBeLessThanOrEqual(LIMIT + 3);
    // The book on the new primary is what the supervisor holds, under its current incarnation.
    await vi.waitFor(
      async () => {
        const { connections, cluster } = server.supervisor.stats();
        expect(await setup.command(promotedPort, 'HVALS', sueSlots)).toEqual(
          Array(connections).fill(expect.stringMatching(new RegExp(`^${cluster?.incarnation}\\|`))),
        );
      },
      { timeout: 5_000, interval: 50 },
    );

    // The old primary is a replica of the new one now, and no connection of the
    // node's is left on it: its socket was dropped while the server was frozen,
    // and node-redis went to the primary the sentinel names.
    expect(String(await setup.command(frozenPort, 'INFO', 'replication'))).toContain(
      `master_port:${promotedPort}`,
    );
    expect(appConnections(await setup.command(frozenPort, 'CLIENT', 'LIST'))).toEqual([]);
    // It holds a copy of the new primary's book, nothing of its own.
    await eventually(
      async () =>
        JSON.stringify(await setup.command(frozenPort, 'HGETALL', sueSlots)) ===
        JSON.stringify(await setup.command(promotedPort, 'HGETALL', sueSlots)),
      5_000,
    );
    expect(await store.renew()).toBe('renewed');
    expect(changes).toHaveLength(1);
  }, 60_000);

  // After the first: the thawed old primary is the replica this one promotes.
  it('the app’s createSentinel() client (no socket timeout of the store’s): commands fail at their deadlines, and it follows the promoted replica', async () => {
    const setup = sentinel.current;
    const client = createSentinel({
      name: setup.name,
      sentinelRootNodes: [...setup.sentinelRootNodes],
      nodeClientOptions: { disableOfflineQueue: true },
    });
    client.on('error', () => {});
    onTestFinished(() => client.destroy());
    await client.connect();
    const keyPrefix = freshPrefix();
    const store = createRedisSlotStore({ redis: client, keyPrefix, commandTimeoutMs: COMMAND_TIMEOUT_MS });
    onTestFinished(() => store.stop());
    const changes: string[] = [];
    await store.start({
      evictionOrdered() {},
      incarnationChanged: (_incarnation, _previous, cause) => changes.push(String(cause)),
    });
    expect(await store.admit('ann', 'a1', 3, 3)).toMatchObject({ admitted: true });

    const probe = probeAdmissions(store);
    try {
      const { promotedPort } = await setup.freeze();
      await eventually(() => probe.outcomes.at(-1)?.code === 'admitted', 10_000);
      expect(await setup.command(promotedPort, 'HLEN', `${keyPrefix}:{u:zed}:slots`)).toBeGreaterThan(0);
    } finally {
      await probe.stop();
    }
    expect(Math.max(...probe.outcomes.map((outcome) => outcome.ms))).toBeLessThan(1_000);
    await eventually(async () => (await store.renew().catch(() => 'failed')) === 'lost', 15_000);
    expect(changes).toEqual(['failover']);
  }, 30_000);
});

/**
 * The last test's setup of its own (a primary, its replica and three sentinels that know each
 * other): formed from the file's start, while the tests before it run (formed-ahead.ts).
 */
const threeSentinels = formedAhead({
  plan: ['three sentinels'],
  make: () => startRedisSentinel({ sentinels: 3, quorum: 2 }),
  stop: (setup) => setup.stop(),
});

describe.runIf(hasRedis)('three sentinels (quorum 2), one of them dead', () => {
  it('the store’s own client, listing the dead sentinel first, connects and follows the failover', async () => {
    const setup = await threeSentinels('three sentinels');
    await setup.killSentinel(0);
    const keyPrefix = freshPrefix();
    const { store, changes } = await startRecordedStore(ownClient(setup), keyPrefix);
    const first = store.incarnation;
    expect(await store.admit('ann', 'a1', 3, 3)).toMatchObject({ admitted: true });
    const oldPrimary = await setup.primaryPort();
    expect(await setup.command(oldPrimary, 'HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(1);

    const probe = probeAdmissions(store);
    const promoted = await setup.failover();
    await eventually(() => probe.outcomes.at(-1)?.code === 'admitted', 10_000);
    await probe.stop();
    expect(Math.max(...probe.outcomes.map((outcome) => outcome.ms))).toBeLessThan(1_000);

    await eventually(async () => (await store.renew().catch(() => 'failed')) === 'lost', 15_000);
    expect(changes).toEqual([{ incarnation: store.incarnation, previous: first, cause: 'failover' }]);
    expect(await store.admit('ann', 'a2', 3, 3)).toMatchObject({ admitted: true });
    // The new entry is on the promoted replica, under the new incarnation.
    expect(await setup.command(promoted, 'HVALS', `${keyPrefix}:{u:ann}:slots`)).toContainEqual(
      expect.stringMatching(new RegExp(`^${store.incarnation}\\|`)),
    );
  }, 30_000);
});
