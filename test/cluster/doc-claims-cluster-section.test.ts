/**
 * docs/cluster-store.md, "Redis Cluster": the claims no other test proved, each against the
 * file's private 3-master Redis Cluster (one for the whole file; the last test adds a replica).
 *
 * - "a master that appears later ... answers `NOSCRIPT` to its first `EVALSHA`, and the store
 *   runs the script once with `EVAL`, which caches it there" (a master whose script cache is
 *   empty: SCRIPT FLUSH after the store loaded its scripts everywhere).
 * - "the renewal also sends `TIME` and `INFO server replication` to every master".
 * - "MOVED and ASK redirects are the client's business", and "Moving slots between the same
 *   masters (resharding) changes neither and does not fence": a user's slot migrated to another
 *   master (ASK while it moves, MOVED after), and a node's order channel's slot moved ("the
 *   cluster client's sharded pub/sub, which follows a slot that moves").
 * - "With `rootNodes`, every node's connection gets the store's settings (no offline queue,
 *   the socket timeout, ...)": a master the client discovered (not a root node) stops answering.
 * - "the first URL's user, password ... apply to every node" (the user; the password is
 *   doc-claims-cluster-credentials.test.ts's).
 * - "a new master added while another is unreachable does [fence]", and a new shard alone does
 *   not ("when one never seen appears while one seen before is missing").
 * - "Commands go to masters only, never to replicas".
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { scripts } from '../../src/cluster/redis-scripts.js';
import type { ClusterMaster, PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { arrivesWithin, clientsOf, keyOffMasters } from './cluster-failover-fixture.js';
import {
  commandCalls,
  eventually,
  freshPrefix,
  hasRedis,
  startStoreOn,
  usePrivateCluster,
} from './store-fixture.js';

const address = (port: number) => `127.0.0.1:${port}`;

/** The first `keyOf(i)` whose master is the one on `port`. */
async function keyOn(
  cluster: PrivateRedisCluster,
  keyOf: (i: number) => string,
  port: number,
): Promise<number> {
  const others = cluster.masters.filter((master) => master.port !== port).map((master) => master.port);
  const found = await keyOffMasters(cluster, keyOf, others);
  return found.index;
}

/** The calls of each command on the node on `port` since its last CONFIG RESETSTAT. */
const callsOn = (cluster: PrivateRedisCluster, port: number) =>
  commandCalls({ command: (...args: string[]) => cluster.command(port, ...args) });

/** How many times the node on `port` answered `error` (MOVED, ASK, NOSCRIPT) since its last CONFIG RESETSTAT. */
async function errorsOn(cluster: PrivateRedisCluster, port: number, error: string): Promise<number> {
  const info = String(await cluster.command(port, 'INFO', 'errorstats'));
  return Number(new RegExp(`^errorstat_${error}:count=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

/**
 * Moves hash slot `slot` from `from` to `to` as redis-cli's resharding does: IMPORTING on the
 * target, MIGRATING on the source, the keys MIGRATEd, then (by `finish`) SETSLOT NODE on
 * every master, the target first (whose epoch the IMPORTING state lets it bump).
 */
async function migrateSlot(
  cluster: PrivateRedisCluster,
  slot: number,
  from: ClusterMaster,
  to: ClusterMaster,
) {
  const ok = async (port: number, ...args: string[]) =>
    expect(await cluster.command(port, ...args)).toBe('OK');
  await ok(to.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
  await ok(from.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id);
  const keys = (await cluster.command(
    from.port,
    'CLUSTER',
    'GETKEYSINSLOT',
    String(slot),
    '100',
  )) as string[];
  if (keys.length > 0)
    await ok(from.port, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
  return {
    moved: keys,
    /** `away`: masters not told (paused): the gossip tells them later. */
    async finish(away: readonly number[] = []) {
      await ok(to.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
      await ok(from.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
      for (const other of cluster.masters)
        if (![to.port, from.port, ...away].includes(other.port))
          await ok(other.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
    },
  };
}

const slotOf = async (cluster: PrivateRedisCluster, key: string) =>
  Number(await cluster.command(cluster.masters[0]?.port as number, 'CLUSTER', 'KEYSLOT', key));

describe.runIf(hasRedis)('docs: the Redis Cluster section of docs/cluster-store.md', () => {
  const cluster = usePrivateCluster();

  it('a master without the scripts (its cache flushed): NOSCRIPT to the first EVALSHA, one EVAL there, which caches it; the next admission is one EVALSHA', async () => {
    const c = cluster.current;
    const keys = createKeyLayout(freshPrefix());
    const registry = await c.masterOf(keys.registry.leases);
    const bare = c.masters.find((master) => master.port !== registry.port) as ClusterMaster;
    const ann = `ann${await keyOn(c, (i) => keys.user(`ann${i}`), bare.port)}`;
    const a = await startStoreOn({ redis: { rootNodes: [...c.urls] }, keyPrefix: keys.prefix, nodeId: 'a' });
    // Loaded everywhere at start; then this master loses them, as one that appears later never had them.
    expect(await c.command(bare.port, 'SCRIPT', 'EXISTS', ...scripts.map((s) => s.sha))).toEqual(
      scripts.map(() => 1),
    );
    expect(await c.command(bare.port, 'SCRIPT', 'FLUSH')).toBe('OK');
    for (const master of c.masters) await c.command(master.port, 'CONFIG', 'RESETSTAT');

    // The admission's script, and the index script (its SADD: ann is not listed yet) when the
    // node's index lives there too: each answered NOSCRIPT once, then run once with EVAL.
    const indexThere = (await c.masterOf(keys.incarnationUsers(a.store.incarnation))).port === bare.port;
    const run = indexThere ? 2 : 1;
    expect(await a.store.admit(ann, 'a1', 3, 3)).toMatchObject({ admitted: true, live: 1 });
    expect(await callsOn(c, bare.port)).toMatchObject({ evalsha: run, eval: run });
    expect(await errorsOn(c, bare.port, 'NOSCRIPT')).toBe(run);
    // Cached: the next admission (ann listed now: no index script) is one EVALSHA, and no EVAL.
    expect(await a.store.admit(ann, 'a2', 3, 3)).toMatchObject({ admitted: true, live: 2 });
    expect(await callsOn(c, bare.port)).toMatchObject({ evalsha: run + 1, eval: run });
    expect(await errorsOn(c, bare.port, 'NOSCRIPT')).toBe(run);
    for (const master of c.masters.filter((m) => m !== bare))
      expect((await callsOn(c, master.port)).eval).toBeUndefined();
  });

  it('each renewal sends TIME and INFO (server, replication) once to every master', async () => {
    const c = cluster.current;
    const keys = createKeyLayout(freshPrefix());
    const registry = await c.masterOf(keys.registry.leases);
    const a = await startStoreOn({ redis: { rootNodes: [...c.urls] }, keyPrefix: keys.prefix, nodeId: 'a' });
    for (const master of c.masters) await c.command(master.port, 'CONFIG', 'RESETSTAT');
    for (let i = 0; i < 3; i++) expect(await a.store.renew()).toBe('renewed');
    for (const master of c.masters) {
      // The registry's master also runs the renew script, whose own TIME and INFO server count there.
      const fromScript = master.port === registry.port ? 3 : 0;
      const calls = await callsOn(c, master.port);
      expect({ port: master.port, time: calls.time, info: calls.info }).toEqual({
        port: master.port,
        time: 3 + fromScript,
        info: 3 + fromScript,
      });
    }
  });

  it('resharding: a user’s slot migrated to another master (ASK while it moves, MOVED after) is answered throughout and fences nothing; a node’s channel’s slot moved, its orders and sends still arrive', async () => {
    const c = cluster.current;
    const keys = createKeyLayout(freshPrefix());
    const registry = await c.masterOf(keys.registry.leases);
    const from = c.masters.find((master) => master.port !== registry.port) as ClusterMaster;
    const to = c.masters.find((master) => master !== from && master !== registry) as ClusterMaster;
    const ann = `ann${await keyOn(c, (i) => keys.user(`ann${i}`), from.port)}`;
    const a = await startStoreOn({ redis: { rootNodes: [...c.urls] }, keyPrefix: keys.prefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: { rootNodes: [...c.urls] }, keyPrefix: keys.prefix, nodeId: 'b' });
    for (const id of ['a1', 'a2'])
      expect(await a.store.admit(ann, id, 3, 3)).toMatchObject({ admitted: true });
    for (const store of [a, b]) expect(await store.store.renew()).toBe('renewed');
    expect(a.store.shardOf(ann)).toBe(address(from.port));
    for (const master of c.masters) await c.command(master.port, 'CONFIG', 'RESETSTAT');

    // Halfway: the book is on the target, the slot still the source's (MIGRATING): ASK.
    const slot = await slotOf(c, keys.user(ann));
    const migration = await migrateSlot(c, slot, from, to);
    expect(migration.moved).toEqual([keys.user(ann)]);
    expect(await a.store.userBook(ann)).toEqual({ userId: ann, live: 2, idle: 0, byNode: { a: 2 } });
    expect(await a.store.admit(ann, 'a3', 3, 3)).toMatchObject({ admitted: true, live: 3 });
    expect(await b.store.admit(ann, 'b1', 3, 3)).toMatchObject({ admitted: false, reason: 'user-limit' });
    await a.store.release(ann, 'a1');
    expect(await errorsOn(c, from.port, 'ASK')).toBeGreaterThanOrEqual(4);

    // Done: the source answers MOVED, and the client reads the new layout.
    await migration.finish();
    expect((await c.masterOf(keys.user(ann))).port).toBe(to.port);
    expect(await b.store.admit(ann, 'b1', 3, 3)).toMatchObject({ admitted: true, live: 3 });
    expect(await errorsOn(c, from.port, 'MOVED')).toBeGreaterThanOrEqual(1);
    await eventually(async () => {
      await a.store.userBook(ann);
      return a.store.shardOf(ann) === address(to.port);
    });
    expect(await a.store.userBook(ann)).toEqual({ userId: ann, live: 3, idle: 0, byNode: { a: 2, b: 1 } });
    expect(await c.command(to.port, 'HLEN', keys.user(ann))).toBe(3);
    expect(await c.command(from.port, 'CLUSTER', 'COUNTKEYSINSLOT', String(slot))).toBe(0);

    // b's order channel's slot moves to another master (no key there: SETSLOT alone).
    const channel = keys.orders('b');
    const channelFrom = await c.masterOf(channel);
    const channelTo = c.masters.find((master) => master.port !== channelFrom.port) as ClusterMaster;
    const channelMigration = await migrateSlot(c, await slotOf(c, channel), channelFrom, channelTo);
    expect(channelMigration.moved).toEqual([]);
    await channelMigration.finish();
    expect((await c.masterOf(channel)).port).toBe(channelTo.port);
    // Followed by node-redis itself: b's store sends nothing meanwhile (no renewal, no probe).
    await arrivesWithin(
      () => a.store.orderEviction({ connectionId: 'b1', nodeId: 'b', incarnation: b.store.incarnation }),
      () => b.orders.length > 0,
      5_000,
    );
    await arrivesWithin(
      () => a.store.sendAcross({ kind: 'send', userId: ann, data: 'after the move' }),
      () => b.deliveries.length > 0,
      5_000,
    );
    expect(b.deliveries).toEqual([{ kind: 'send', userId: ann, data: 'after the move' }]);
    expect(await c.command(channelTo.port, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);

    // Neither a run_id seen nor one missing, nor a master now a replica: no fence.
    for (let i = 0; i < 3; i++) for (const store of [a, b]) expect(await store.store.renew()).toBe('renewed');
    expect([...a.incarnations, ...b.incarnations]).toEqual([]);
  });

  it("a master the client discovered (not a root node) gets the store's settings: its silent socket is dropped (socket timeout), and what was refused while it was away never runs there later (no offline queue)", async () => {
    const c = cluster.current;
    const keys = createKeyLayout(freshPrefix());
    const registry = await c.masterOf(keys.registry.leases);
    const away = c.masters.find((master) => master.port !== registry.port) as ClusterMaster;
    const ann = `ann${await keyOn(c, (i) => keys.user(`ann${i}`), away.port)}`;
    // The registry's master is the only root node: the client finds `away` in the layout.
    const a = await startStoreOn({
      redis: { rootNodes: [registry.url] },
      keyPrefix: keys.prefix,
      nodeId: 'a',
      commandTimeoutMs: 200,
    });
    expect(await a.store.admit(ann, 'a1', 10, 10)).toMatchObject({ admitted: true, live: 1 });
    expect(a.reconnects).toBe(0);

    c.pause(away.port);
    onTestFinished(() => c.resume(away.port));
    // A read first (harmless if Redis runs it once back): it fails by its deadline, and the
    // socket goes silent ("one master that stops answering fails only the commands routed to
    // it (at once while one is overdue ... until its socket is dropped after 4 timeouts").
    await expect(a.store.userBook(ann)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
      message: 'Redis HVALS: no answer within 200 ms',
    });
    // Admissions past the silent socket's drop (4 command timeouts: 1 s here), while it reconnects.
    const refused: string[] = [];
    const why: string[] = [];
    const until = Date.now() + 2_200; // well inside the cluster's node timeout (5 s): no failover
    for (let i = 0; Date.now() < until; i++) {
      const error = await a.store.admit(ann, `q${i}`, 10, 10).then(
        () => undefined,
        (failed: { code?: string; message?: string }) => failed,
      );
      expect(error).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
      refused.push(`q${i}`);
      why.push(String(error?.message));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Each at once: unsent while the read is overdue, then refused by the client while it
    // reconnects (no offline queue). None waits for its deadline again.
    const stuck = 'Redis EVALSHA of the admit script (an admission): 1 earlier command(s) still unanswered';
    const offline = 'Redis EVALSHA of the admit script (an admission): The client is offline';
    expect(new Set(why)).toEqual(new Set([stuck, offline]));
    expect(why.indexOf(offline)).toBe(why.lastIndexOf(stuck) + 1);
    c.resume(away.port);
    // A new connection to it, ready ('node-ready'): the old one was dropped, not kept waiting.
    await eventually(() => a.reconnects > 0, 5_000);
    await eventually(
      async () => (await a.store.admit(ann, 'a2', 10, 10).catch(() => undefined))?.admitted === true,
      5_000,
    );
    // Nothing refused meanwhile was queued to run once it was back.
    expect(refused.length).toBeGreaterThan(5);
    expect(((await c.command(away.port, 'HKEYS', keys.user(ann))) as string[]).sort()).toEqual(['a1', 'a2']);
  });

  it("the first root URL's user applies to every node, the ones discovered too: every connection of the store, pub/sub included, is that user's", async () => {
    const c = cluster.current;
    const user = 'claims-g';
    const password = 'user s3cret';
    for (const master of c.masters)
      expect(
        await c.command(master.port, 'ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all'),
      ).toBe('OK');
    onTestFinished(async () => {
      for (const master of c.masters) await c.command(master.port, 'ACL', 'DELUSER', user);
    });
    const keys = createKeyLayout(freshPrefix());
    const [first, second, third] = c.masters as [ClusterMaster, ClusterMaster, ClusterMaster];
    const rootNodes = [`redis://${user}:${encodeURIComponent(password)}@127.0.0.1:${first.port}`, second.url];
    const a = await startStoreOn({ redis: { rootNodes }, keyPrefix: keys.prefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: { rootNodes }, keyPrefix: keys.prefix, nodeId: 'b' });
    for (const [n, master] of [first, second, third].entries()) {
      const id = `u${await keyOn(c, (i) => keys.user(`u${i}`), master.port)}`;
      expect(await a.store.admit(id, `a${n}`, 3, 3)).toMatchObject({ admitted: true });
      expect(await b.store.admit(id, `b${n}`, 3, 3)).toMatchObject({ admitted: true });
      expect(await a.store.sendAcross({ kind: 'send', userId: id, data: `to ${id}` })).toBe(1);
    }
    for (const store of [a, b]) expect(await store.store.renew()).toBe('renewed');
    await eventually(() => b.deliveries.length === 3);
    // Every client on every master but the replication links and this check: the user's.
    // (Not the socket a MIGRATE of the resharding test above keeps open between two masters for 10 s.)
    const others = async () => {
      const lines: string[] = [];
      for (const master of c.masters) {
        const list = String(await c.command(master.port, 'CLIENT', 'LIST')).split('\n');
        lines.push(
          ...list.filter(
            (line) =>
              line.includes('id=') &&
              !/\bflags=\S*[SM]/.test(line) &&
              !/ cmd=client\|list /.test(line) &&
              !line.includes(` user=${user} `) &&
              !/ cmd=restore-asking /.test(line),
          ),
        );
      }
      return lines;
    };
    await vi.waitFor(async () => expect(await others()).toEqual([]), { timeout: 5_000, interval: 50 });
    for (const master of c.masters)
      expect(await clientsOf(c, master.port, (line) => line.includes(` user=${user} `))).toBeGreaterThan(0);
    // The third master was never named: its connections were made from the discovered layout.
    expect(rootNodes.join()).not.toContain(String(third.port));
  });

  // Last but one: it adds two masters (new shards) to the file's cluster.
  it('a new shard: given a slot, its first EVALSHA answers NOSCRIPT, one EVAL caches the script there, and nothing fences; another one appearing while a master is away fences once (failover)', async () => {
    const c = cluster.current;
    const keys = createKeyLayout(freshPrefix());
    const registry = await c.masterOf(keys.registry.leases);
    const registrySlot = await slotOf(c, keys.registry.leases);
    const away = c.masters.find((master) => master.port !== registry.port) as ClusterMaster;
    /** A user on the registry's master, in a slot of its own (moved alone below). */
    const userOnRegistry = async (name: string) => {
      for (let from = 0; ; from++) {
        const index = await keyOn(c, (i) => keys.user(`${name}${from + i}`), registry.port);
        const user = `${name}${from + index}`;
        if ((await slotOf(c, keys.user(user))) !== registrySlot) return user;
        from += index;
      }
    };
    const a = await startStoreOn({ redis: { rootNodes: [...c.urls] }, keyPrefix: keys.prefix, nodeId: 'a' });
    const ann = await userOnRegistry('ann');
    expect(await a.store.admit(ann, 'a1', 3, 3)).toMatchObject({ admitted: true, live: 1 });
    expect(await a.store.renew()).toBe('renewed'); // every master's run_id is known from here

    // A new shard, every master up: ann's slot moves to it.
    const shard = await c.addMaster();
    await (await migrateSlot(c, await slotOf(c, keys.user(ann)), registry, shard)).finish();
    expect((await c.masterOf(keys.user(ann))).port).toBe(shard.port);
    // MOVED from the registry's master: the client reads the layout and sends it to the new one.
    expect(await a.store.admit(ann, 'a2', 3, 3)).toMatchObject({ admitted: true, live: 2 });
    expect(await errorsOn(c, shard.port, 'NOSCRIPT')).toBe(1);
    expect((await callsOn(c, shard.port)).eval).toBe(1);
    expect(await a.store.admit(ann, 'a3', 3, 3)).toMatchObject({ admitted: true, live: 3 });
    expect(await errorsOn(c, shard.port, 'NOSCRIPT')).toBe(1);
    expect(a.store.shardOf(ann)).toBe(address(shard.port));
    // A run_id never seen, none missing: no fence; the renewals check the new master too.
    await c.command(shard.port, 'CONFIG', 'RESETSTAT');
    for (let i = 0; i < 2; i++) expect(await a.store.renew()).toBe('renewed');
    expect((await callsOn(c, shard.port)).time).toBe(2);
    expect(a.incarnations).toEqual([]);

    // Another new shard, while a master is away: a run_id never seen while one seen is missing.
    const second = await c.addMaster();
    const bob = await userOnRegistry('bob');
    const bobSlot = await slotOf(c, keys.user(bob));
    c.pause(away.port);
    onTestFinished(() => c.resume(away.port));
    await (await migrateSlot(c, bobSlot, registry, second)).finish([away.port]);
    // The client learns the layout from this MOVED (a re-read may first wait on the master away).
    await eventually(
      async () => (await a.store.admit(bob, 'b1', 3, 3).catch(() => undefined))?.admitted === true,
      5_000,
    );
    expect(a.store.shardOf(bob)).toBe(address(second.port));
    const first = a.store.incarnation;
    expect(await a.store.renew()).toBe('lost');
    expect(a.causes).toEqual(['failover']);
    expect(a.store.incarnation).toBeGreaterThan(first);
    c.resume(away.port);
    // Once: the master back, its run_id the same, the renewals renew.
    await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'renewed', 5_000);
    expect(await a.store.renew()).toBe('renewed');
    expect(a.causes).toEqual(['failover']);
  });

  // Last: it adds a replica to the file's cluster.
  it('commands go to masters only: a replica gets no connection of the store and runs none of its commands', async () => {
    const c = cluster.current;
    const keys = createKeyLayout(freshPrefix());
    const registry = await c.masterOf(keys.registry.leases);
    const replica = await c.addReplica(registry.port);
    const storeOnly = [
      'evalsha',
      'eval',
      'hvals',
      'sscan',
      'scard',
      'ssubscribe',
      'time',
      'script',
      'cluster|slots',
    ];
    const statsOf = async () =>
      Object.fromEntries(
        Object.entries(await callsOn(c, replica.port)).filter(([name]) => storeOnly.includes(name)),
      );
    const before = await statsOf();

    // A user whose book is on the registry's master, the replica's: every kind of command there.
    const ann = `ann${await keyOn(c, (i) => keys.user(`ann${i}`), registry.port)}`;
    const a = await startStoreOn({ redis: { rootNodes: [...c.urls] }, keyPrefix: keys.prefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: { rootNodes: [...c.urls] }, keyPrefix: keys.prefix, nodeId: 'b' });
    expect(await a.store.admit(ann, 'a1', 3, 3)).toMatchObject({ admitted: true });
    expect(await b.store.admit(ann, 'b1', 3, 3)).toMatchObject({ admitted: true });
    await a.store.setIdle(ann, 'a1', Date.now());
    expect(await b.store.userBook(ann)).toEqual({ userId: ann, live: 2, idle: 1, byNode: { a: 1, b: 1 } });
    expect(await a.store.sendAcross({ kind: 'send', userId: ann, data: 'hi' })).toBe(1);
    for (const store of [a, b]) expect(await store.store.renew()).toBe('renewed');
    expect(await a.store.view()).toMatchObject({ users: 1, connections: 2 });
    await a.store.release(ann, 'a1');
    expect(await a.store.reap()).toBe(0);
    await eventually(() => b.deliveries.length === 1);
    // The writes did reach the replica, through replication (a key read there would be MOVED).
    const size = Number(await c.command(registry.port, 'DBSIZE'));
    expect(size).toBeGreaterThan(0);
    await eventually(async () => Number(await c.command(replica.port, 'DBSIZE')) === size);

    expect(await clientsOf(c, replica.port)).toBe(0);
    expect(await statsOf()).toEqual(before);
    expect(await clientsOf(c, registry.port)).toBeGreaterThan(0); // the same count on its master finds the stores
  });
});
