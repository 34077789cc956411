/**
 * The reference server's GET /stats?user=<id>&cluster=1 in cluster mode: two
 * reference servers started as a user starts them (`--redis`, `--node-id`,
 * the dashboard token in WSSUP_DASHBOARD_TOKEN) on the file's private
 * redis-server, real clients. What the on-call page asks: where are user
 * ann's connections, on this process and across the cluster, and what a
 * user with none answers; 503 while Redis does not answer.
 */
import { describe, expect, it } from 'vitest';
import type { OneUserStats } from '../../examples/reference-server/stats-route.js';
import { attempt, type Node, startNode } from './cluster-nodes.js';
import { eventually, hasRedis, usePrivateRedis } from './store-fixture.js';

const TOKEN = 's3cret-token-0123456789';

const httpOf = (node: Node) => node.url.replace('ws://', 'http://');

/** GET `path` of `node`, with the dashboard token unless `token` says otherwise (null: none). */
async function get(node: Node, path: string, token: string | null = TOKEN) {
  const response = await fetch(`${httpOf(node)}${path}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  // 401 and 403 answer in plain text.
  const json = response.headers.get('content-type')?.startsWith('application/json') === true;
  return {
    status: response.status,
    body: (json ? JSON.parse(text) : { text }) as OneUserStats & { error?: string },
  };
}

describe.runIf(hasRedis)('GET /stats?user=<id>&cluster=1 on two reference servers', () => {
  const redis = usePrivateRedis();

  it("answers this process's book and connection ids, the user's cluster-wide book and the nodes", async () => {
    const env = { WSSUP_DASHBOARD_TOKEN: TOKEN };
    const [a, b] = await Promise.all([
      startNode(redis.current, 'node-a', [], env),
      startNode(redis.current, 'node-b', [], env),
    ]);
    if (a === undefined || b === undefined) throw new Error('two nodes');
    for (const [node, count] of [
      [a, 2],
      [b, 1],
    ] as const) {
      for (let i = 0; i < count; i++) expect((await attempt(node, 'ann')).opened).toBe(true);
    }
    // Until node b's booking is read (a loaded machine's slow Redis answer can also be a 503 meanwhile).
    await eventually(
      async () => (await get(a, '/stats?user=ann&cluster=1')).body.user?.global?.live === 3,
      10_000,
    );

    const { status, body } = await get(a, '/stats?user=ann&cluster=1');
    expect(status).toBe(200);
    expect(body.user).toMatchObject({
      userId: 'ann',
      book: { userId: 'ann', live: 2 },
      global: { userId: 'ann', live: 3, byNode: { 'node-a': 2, 'node-b': 1 } },
    });
    expect(body.user.connections).toHaveLength(2);
    expect(body.global?.nodes.map((n) => n.nodeId).sort()).toEqual(['node-a', 'node-b']);
    // Node b's own share: its one connection, not a's.
    const onB = (await get(b, '/stats?user=ann&cluster=1')).body.user;
    expect([onB.book?.live, onB.connections.length, onB.global?.live]).toEqual([1, 1, 3]);
    const onA = body.user.connections.map(({ id }) => id);
    expect(onB.connections.some(({ id }) => onA.includes(id))).toBe(false);
    // Without cluster=1: this process only, no store read.
    const local = (await get(a, '/stats?user=ann')).body;
    expect(local.user).not.toHaveProperty('global');
    expect(local).not.toHaveProperty('global');

    // A user no node books: 200, an empty book here and across the cluster.
    const nobody = await get(a, '/stats?user=nobody&cluster=1');
    expect(nobody.status).toBe(200);
    expect(nobody.body.user).toEqual({ userId: 'nobody', book: null, connections: [], global: null });

    // It names a user: behind the token, with cluster=1 as without.
    expect((await get(a, '/stats?user=ann&cluster=1', null)).status).toBe(401);
    expect((await get(a, '/stats?user=ann&cluster=1', 'wrong')).status).toBe(403);

    // Redis away: 503, as /stats?cluster=1 answers.
    await redis.current.kill();
    await eventually(async () => (await get(a, '/stats?user=ann&cluster=1')).status === 503, 15_000);
    const away = await get(a, '/stats?user=ann&cluster=1');
    expect(away.body.error).toEqual(expect.any(String));
    expect((await get(a, '/stats?cluster=1')).status).toBe(503);
    // This process's own book needs no store.
    expect((await get(a, '/stats?user=ann')).body.user.book?.live).toBe(2);
  });
});
