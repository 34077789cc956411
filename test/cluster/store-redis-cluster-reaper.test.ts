/**
 * The reaper on a real 3-master Redis Cluster with one master away
 * (CLIENT PAUSE ALL: it holds every client's commands, the cluster bus goes
 * on, so the cluster stays up). A dead incarnation's work is spread over
 * masters: its index on one, each user's book on the user's own. reap() must
 * do all it can: the dead entries on the masters that answer are purged, the
 * dead incarnations whose work is all there are forgotten, and nothing is
 * taken out of an index before its user's book was purged, so the next pass
 * (once the master is back) finds and frees the rest. It still rejects, so
 * the runtime reports the failure and tries again.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createKeyLayout, type KeyLayout } from '../../src/cluster/redis-keys.js';
import type { ClusterMaster } from '../helpers/redis-cluster.js';
import {
  eventually,
  freshPrefix,
  hasRedis,
  startStoreOn,
  type TestStore,
  usePrivateCluster,
} from './store-fixture.js';

/**
 * The reaper's deadline: a held command fails well within the pause, and the work on the other
 * masters (a few round trips) is done long before it, even on a loaded machine (while a command
 * is overdue, the store fails every other at once: docs/cluster-store.md, "What changes.").
 */
const commandTimeoutMs = 400;
/** Long enough for reap() to fail and the checks to run; short enough for a test. */
const pauseMs = 2_000;

const byNumber = (a: number, b: number) => a - b;

describe.runIf(hasRedis)('the reaper with one master away (a private 3-master Redis Cluster)', () => {
  const cluster = usePrivateCluster();
  const rootNodes = () => ({ rootNodes: [...cluster.current.urls] });

  interface Layout {
    keyPrefix: string;
    keys: KeyLayout;
    /** The registry's master, which stays up. */
    registry: ClusterMaster;
    /** The master the test pauses: not the registry's (without it, reap() can do nothing). */
    away: ClusterMaster;
  }

  function layout(): Promise<Layout> {
    return (async () => {
      const keyPrefix = freshPrefix();
      const keys = createKeyLayout(keyPrefix);
      const registry = await cluster.current.masterOf(keys.registry.leases);
      const away = cluster.current.masters.find((master) => master.port !== registry.port) as ClusterMaster;
      return { keyPrefix, keys, registry, away };
    })();
  }

  /** A user whose book is (or is not) on the master that goes away, asked of the cluster. */
  async function userWhere(setup: Layout, onAway: boolean, not: readonly string[] = []): Promise<string> {
    for (let i = 0; i < 500; i++) {
      const user = `user${i}`;
      if (not.includes(user)) continue;
      const master = await cluster.current.masterOf(setup.keys.user(user));
      if ((master.port === setup.away.port) === onAway) return user;
    }
    throw new Error(`no user ${onAway ? 'on' : 'off'} the master that goes away`);
  }

  /**
   * Starts a node (to die later) whose incarnation's index is (or is not) on the master that goes
   * away: the index's key depends on the incarnation it takes, so this starts nodes until one fits.
   */
  async function nodeWhere(setup: Layout, nodeId: string, indexOnAway: boolean): Promise<TestStore> {
    for (let attempt = 0; attempt < 30; attempt++) {
      const node = await startStoreOn({ redis: rootNodes(), keyPrefix: setup.keyPrefix, nodeId });
      const master = await cluster.current.masterOf(setup.keys.incarnationUsers(node.store.incarnation));
      if ((master.port === setup.away.port) === indexOnAway) return node;
      await node.store.stop();
    }
    throw new Error(`no incarnation of ${nodeId} with its index ${indexOnAway ? 'on' : 'off'} that master`);
  }

  /** Ends the leases of `dead` at once, in this order in the registry (the reaper walks them so). */
  async function expire(setup: Layout, dead: readonly TestStore[]): Promise<void> {
    for (const [i, node] of dead.entries()) {
      await cluster.current.command(
        setup.registry.port,
        'ZADD',
        setup.keys.registry.leases,
        'XX',
        String(i + 1),
        String(node.store.incarnation),
      );
    }
  }

  const on = async (key: string) => (await cluster.current.masterOf(key)).port;
  const exists = async (key: string) => cluster.current.command(await on(key), 'EXISTS', key);
  const registered = async (setup: Layout) =>
    (
      (await cluster.current.command(
        setup.registry.port,
        'ZRANGE',
        setup.keys.registry.leases,
        '0',
        '-1',
      )) as string[]
    )
      .map(Number)
      .sort(byNumber);

  /** Holds every client's commands on the master that goes away, for pauseMs; lifted after the test. */
  async function pause(setup: Layout): Promise<void> {
    await cluster.current.command(setup.away.port, 'CLIENT', 'PAUSE', String(pauseMs), 'ALL');
    onTestFinished(async () => {
      await cluster.current.command(setup.away.port, 'CLIENT', 'UNPAUSE').catch(() => undefined);
    });
  }

  /** Once the master answers again, a pass of the reaper succeeds (its deadlines may still be stuck a moment). */
  async function reapsAgain(reaper: TestStore): Promise<void> {
    await eventually(async () => (await reaper.store.reap().catch(() => -1)) >= 0, 10_000);
    expect(await reaper.store.reap()).toBe(0);
  }

  it('a dead node with users on two masters: the entries on the master that answers are freed, the user on the other stays in the index, the next dead node is forgotten; the next pass frees the rest', async () => {
    const setup = await layout();
    const far = await userWhere(setup, true);
    const near = await userWhere(setup, false);
    const other = await userWhere(setup, false, [near]);
    const spread = await nodeWhere(setup, 'spread', false);
    const healthy = await nodeWhere(setup, 'healthy', false);
    for (const user of [far, near]) {
      await spread.store.admit(user, `s-${user}-1`, 3, 3);
      await spread.store.admit(user, `s-${user}-2`, 3, 3);
    }
    await healthy.store.admit(other, 'h-1', 3, 3);
    const reaper = await startStoreOn({
      redis: rootNodes(),
      keyPrefix: setup.keyPrefix,
      nodeId: 'reaper',
      commandTimeoutMs,
    });
    await expire(setup, [spread, healthy]);
    const spreadIndex = setup.keys.incarnationUsers(spread.store.incarnation);
    const healthyIndex = setup.keys.incarnationUsers(healthy.store.incarnation);

    await pause(setup);
    await expect(reaper.store.reap()).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    // Everything of the master that answers is done: the spread node's user there, and the whole
    // healthy node (its lease forgotten, its index gone).
    expect(await exists(setup.keys.user(near))).toBe(0);
    expect(await exists(setup.keys.user(other))).toBe(0);
    expect(await exists(healthyIndex)).toBe(0);
    expect(await registered(setup)).toEqual(
      [spread.store.incarnation, reaper.store.incarnation].sort(byNumber),
    );
    // The user whose purge failed is still listed for the next pass.
    expect(await cluster.current.command(await on(spreadIndex), 'SISMEMBER', spreadIndex, far)).toBe(1);

    await reapsAgain(reaper);
    for (const user of [far, near, other]) expect(await exists(setup.keys.user(user))).toBe(0);
    expect(await exists(spreadIndex)).toBe(0);
    expect(await registered(setup)).toEqual([reaper.store.incarnation]);
  });

  it('a dead node whose index is on the master away: the next dead node is still reaped and forgotten; the next pass frees the first', async () => {
    const setup = await layout();
    const stranded = await userWhere(setup, false);
    const other = await userWhere(setup, false, [stranded]);
    const unreadable = await nodeWhere(setup, 'unreadable', true);
    const healthy = await nodeWhere(setup, 'healthy', false);
    await unreadable.store.admit(stranded, 'u-1', 3, 3);
    await healthy.store.admit(other, 'h-1', 3, 3);
    const reaper = await startStoreOn({
      redis: rootNodes(),
      keyPrefix: setup.keyPrefix,
      nodeId: 'reaper',
      commandTimeoutMs,
    });
    await expire(setup, [unreadable, healthy]);
    const unreadableIndex = setup.keys.incarnationUsers(unreadable.store.incarnation);
    const healthyIndex = setup.keys.incarnationUsers(healthy.store.incarnation);

    await pause(setup);
    await expect(reaper.store.reap()).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect(await exists(setup.keys.user(other))).toBe(0);
    expect(await exists(healthyIndex)).toBe(0);
    expect(await registered(setup)).toEqual(
      [unreadable.store.incarnation, reaper.store.incarnation].sort(byNumber),
    );
    expect(await exists(setup.keys.user(stranded))).toBe(1);

    await reapsAgain(reaper);
    expect(await exists(setup.keys.user(stranded))).toBe(0);
    expect(await exists(unreadableIndex)).toBe(0);
    expect(await registered(setup)).toEqual([reaper.store.incarnation]);
  });
});
