/**
 * The reference server's probes: GET /healthz (liveness: the process serves
 * HTTP, whatever Redis or a shutdown do, or Kubernetes would kill a draining
 * pod) and GET /readyz (readiness: 200 while the supervisor admits, 503 with
 * the reason while it refuses every upgrade), on real HTTP and a private
 * redis-server made to stop answering (SIGSTOP).
 */
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { type Socket, connect as tcpConnect } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import type { ServerConfig } from '../../examples/reference-server/config.js';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import type { StoreUnavailablePolicy } from '../../src/index.js';
import { hasRedis } from '../cluster/store-fixture.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { ioWait, connect as openClient } from '../helpers/server.js';

async function startServer(config: Partial<ServerConfig> = {}): Promise<ReferenceServer> {
  const logged: string[] = [];
  const server = await startReferenceServer(
    { host: '127.0.0.1', port: 0, limits: { preset: 'test' }, ...config },
    (line) => void logged.push(line),
  );
  onTestFinished(async () => {
    await server.close();
    // A store outage may be reported (WSSUP_STORE_*), a bug the runtime caught may not.
    expect(logged.filter((line) => line.startsWith('error WSSUP_INTERNAL'))).toEqual([]);
  });
  return server;
}

async function fetchReply(
  server: ReferenceServer,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const request = httpRequest({ host: '127.0.0.1', port: server.port, path, method });
  onTestFinished(() => void request.destroy());
  request.end();
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  response.setEncoding('utf8');
  let body = '';
  for await (const chunk of response) body += chunk;
  return { status: response.statusCode ?? 0, headers: response.headers, body };
}

/** An open client of the reference server, as `user`. */
const connect = (server: ReferenceServer, user: string) => openClient(`${server.url}/?user=${user}`);

/** A client that completes the handshake and then never answers: its close frame keeps a drain waiting. */
async function silentClient(server: ReferenceServer, user: string): Promise<Socket> {
  const socket = tcpConnect(server.port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  await once(socket, 'connect');
  socket.write(
    `GET /?user=${user} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const [head] = (await once(socket, 'data')) as [Buffer];
  expect(head.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  socket.pause(); // reads nothing more, so it never answers the close frame
  return socket;
}

describe('GET /healthz and GET /readyz', () => {
  it('answer 200 while the server runs, with its process full', async () => {
    const server = await startServer({ limits: { preset: 'test', maxConnections: 1 } });
    await connect(server, 'ann');
    expect(await fetchReply(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await fetchReply(server, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('/readyz answers 503 shutting-down from the moment shutdown() is called; /healthz stays 200', async () => {
    const server = await startServer();
    const ws = await connect(server, 'ann');
    const done = server.supervisor.shutdown();
    const ready = await fetchReply(server, '/readyz');
    expect(ready).toMatchObject({ status: 503, body: 'shutting-down\n' });
    expect(ready.body).not.toContain('ann');
    expect(await fetchReply(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    ws.terminate();
    await done;
    expect((await fetchReply(server, '/readyz')).status).toBe(503);
    expect((await fetchReply(server, '/healthz')).status).toBe(200);
  });

  it('while close() drains (SIGINT, SIGTERM), /healthz still answers 200 and /readyz 503 shutting-down', async () => {
    const server = await startServer({ limits: { preset: 'test', drainTimeoutMs: 30_000 } });
    const silent = await silentClient(server, 'ann');
    const closed = server.close();
    expect(server.supervisor.stats().connections).toBe(1); // still draining
    expect(await fetchReply(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await fetchReply(server, '/readyz')).toMatchObject({ status: 503, body: 'shutting-down\n' });
    // A balancer that probes with HEAD sees the same, without a body.
    expect(await fetchReply(server, '/readyz', 'HEAD')).toMatchObject({ status: 503, body: '' });
    expect(await fetchReply(server, '/healthz', 'HEAD')).toMatchObject({ status: 200, body: '' });
    // The port stays open while it drains, and a new upgrade is refused with 503.
    const refused = new WebSocket(`${server.url}/?user=bob`);
    refused.on('error', () => {});
    onTestFinished(() => refused.terminate());
    const [, response] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(response.statusCode).toBe(503);
    response.resume();
    silent.destroy();
    await closed;
  });

  it.each(['/healthz', '/readyz'])('POST %s: 405 with Allow: GET, HEAD', async (path) => {
    const server = await startServer();
    const reply = await fetchReply(server, path, 'POST');
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD');
  });
});

describe.runIf(hasRedis)('GET /readyz through a Redis outage', () => {
  async function startNode(policy: StoreUnavailablePolicy): Promise<{
    server: ReferenceServer;
    redis: PrivateRedis;
  }> {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const server = await startServer({
      cluster: {
        redis: redis.url,
        nodeId: 'n1',
        leaseTtlMs: 1_500,
        commandTimeoutMs: 150,
        onStoreUnavailable: policy,
      },
    });
    // Shut down before Redis stops (callbacks run in reverse): its slots are released.
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    return { server, redis };
  }

  it("'reject': 503 store-unavailable while the breaker is open, 200 again once it closes; /healthz stays 200", async () => {
    const { server, redis } = await startNode('reject');
    expect(await fetchReply(server, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    await redis.pause();
    try {
      await vi.waitFor(async () => {
        expect(await fetchReply(server, '/readyz')).toMatchObject({
          status: 503,
          body: 'store-unavailable\n',
        });
      }, ioWait);
      expect(server.supervisor.stats().cluster?.breaker).not.toBe('closed');
      // And upgrades are refused for that very reason.
      const reasons: string[] = [];
      onTestFinished(server.supervisor.on('rejected', ({ reason }) => reasons.push(reason)));
      const refused = new WebSocket(`${server.url}/?user=bob`);
      refused.on('error', () => {}); // terminate() after a refusal reports one
      onTestFinished(() => refused.terminate());
      const [, response] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
      expect(response.statusCode).toBe(503);
      response.resume();
      expect(reasons).toEqual(['store-unavailable']);
      expect(await fetchReply(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    } finally {
      redis.resume();
    }
    await vi.waitFor(async () => {
      expect(await fetchReply(server, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    }, ioWait);
    expect(server.supervisor.stats().cluster?.breaker).toBe('closed');
    await connect(server, 'bob');
  });

  it('GET /stats?cluster=1: the totals plus global, read from Redis; 503 while Redis does not answer', async () => {
    const { server, redis } = await startNode('local');
    await connect(server, 'ann');
    const answered = await fetchReply(server, '/stats?cluster=1');
    expect(answered.status).toBe(200);
    expect(JSON.parse(answered.body)).toMatchObject({
      connections: 1,
      global: { nodes: [{ nodeId: 'n1' }], users: 1, connections: 1 },
    });
    await redis.pause();
    try {
      const away = await fetchReply(server, '/stats?cluster=1');
      expect(away.status).toBe(503);
      expect(JSON.parse(away.body).error).toMatch(/^SlotStoreUnavailableError: /);
      // The totals of this process stay served: they read no store.
      expect((await fetchReply(server, '/stats')).status).toBe(200);
    } finally {
      redis.resume();
    }
  });

  // A wrong --redis (a typo, a wrong password) under 'local' admits on this process's own limit
  // as an outage does; a probe that said 200 let a fleet of them take traffic, each enforcing
  // its own limit only. Not ready until the first lease: then the outage policy as before.
  it("'local', Redis away from the start: 503 no-lease-yet until the first lease, then 200", async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    await redis.pause();
    onTestFinished(() => redis.resume());
    const server = await startServer({
      cluster: { redis: redis.url, nodeId: 'n0', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    });
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.breaker).toBe('open'), ioWait);
    expect(server.supervisor.stats().admission).toEqual({ admitting: true, reason: null });
    expect(await fetchReply(server, '/readyz')).toMatchObject({ status: 503, body: 'no-lease-yet\n' });
    expect(await fetchReply(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    redis.resume();
    await vi.waitFor(async () => {
      expect(await fetchReply(server, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    }, ioWait);
  });

  it("'local': 200 all through the outage (upgrades are admitted on this process's limit)", async () => {
    const { server, redis } = await startNode('local');
    await redis.pause();
    try {
      await vi.waitFor(() => expect(server.supervisor.stats().cluster?.breaker).toBe('open'), ioWait);
      expect(await fetchReply(server, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
      await connect(server, 'cy');
    } finally {
      redis.resume();
    }
  });
});
