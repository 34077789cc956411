/**
 * The reference server's GET /metrics (issue 11, item 5), scraped over HTTP
 * like Prometheus does and read by a strict parser of the exposition format:
 * the numbers are what the test did to the server.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createMetricsRoute } from '../../examples/reference-server/metrics-route.js';
import { startReferenceServer } from '../../examples/reference-server/server.js';
import { createSupervisor } from '../../src/index.js';
import { parseExposition } from '../helpers/prometheus.js';
import { closeServer, connectRefused, ioWait, listenOnLoopback } from '../helpers/server.js';

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  onTestFinished(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

describe('reference server: GET /metrics', () => {
  it('serves Prometheus text whose numbers are what the clients did', async () => {
    const logged: string[] = [];
    // Three per user, and no eviction or heartbeat while the test runs on the real clock.
    const server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: {
          preset: 'test',
          maxConnectionsPerUser: 3,
          idleTimeoutMs: 600_000,
          heartbeatIntervalMs: 600_000,
        },
      },
      (line) => logged.push(line),
    );
    onTestFinished(() => server.close());
    const http = `http://127.0.0.1:${server.port}`;
    const scrape = async () => {
      const response = await fetch(`${http}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      return parseExposition(await response.text());
    };

    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await open(`${server.url}/?user=mia`));
    expect(await connectRefused(`${server.url}/?user=mia`)).toBe(429);

    let m = await scrape();
    expect(m.value('ws_supervisor_admitted_total')).toBe(3);
    expect(m.value('ws_supervisor_rejected_total', { reason: 'user-limit', status: '429' })).toBe(1);
    expect(m.value('ws_supervisor_rejected_total', { reason: 'unauthenticated', status: '401' })).toBe(0);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(3);
    expect(m.value('ws_supervisor_users')).toBe(1);
    expect(m.value('ws_supervisor_disposed_total', { reason: 'closed' })).toBe(0);

    const [first] = clients;
    first?.close(1000);
    await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(2), ioWait);
    m = await scrape();
    expect(m.value('ws_supervisor_disposed_total', { reason: 'closed' })).toBe(1);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(2);
    expect(m.value('ws_supervisor_connection_lifetime_seconds_count')).toBe(1);
    expect(m.value('ws_supervisor_cleanup_latency_seconds_count')).toBe(1);
    expect(logged.filter((line) => line.startsWith('error'))).toEqual([]);
  });

  it('answers 501 naming prom-client when it is not installed (ws-supervisor serve from a bare install)', async () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: () => null });
    const missing = Object.assign(new Error("Cannot find package 'prom-client'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const metrics = await createMetricsRoute(
      supervisor,
      () => {},
      () => Promise.reject(missing),
    );
    const server = createServer(metrics.route);
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const reply = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(reply.status).toBe(501);
    expect(await reply.text()).toMatch(/npm install prom-client/);
    metrics.close();
    await supervisor.shutdown();
  });

  it('a start that fails leaves no metric listener on the supervisor (they are registered last)', async () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: () => null });
    onTestFinished(() => supervisor.shutdown());
    let subscribed = 0;
    // The supervisor, counting the listeners registered on it and not removed again.
    const counted = new Proxy(supervisor, {
      get(target, key) {
        if (key === 'on') {
          return (...args: Parameters<typeof target.on>) => {
            const off = target.on(...args);
            subscribed += 1;
            return () => {
              subscribed -= 1;
              off();
            };
          };
        }
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const real = await import('prom-client');
    const broken = new Error('collectDefaultMetrics failed');
    // A prom-client of its own (the default metrics are collected once per prom-client module).
    const failing = {
      ...real,
      collectDefaultMetrics: () => {
        throw broken;
      },
    } as unknown as typeof real;
    await expect(
      createMetricsRoute(
        counted,
        () => {},
        () => Promise.resolve(failing),
      ),
    ).rejects.toBe(broken);
    expect(subscribed).toBe(0);
    // ...and the same way, one that starts does register them (the count sees them).
    const metrics = await createMetricsRoute(counted, () => {});
    expect(subscribed).toBeGreaterThan(0);
    metrics.close();
    expect(subscribed).toBe(0);
  });

  it('passes any other failure to load it through', async () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: () => null });
    onTestFinished(() => supervisor.shutdown());
    const broken = new SyntaxError('Unexpected token');
    await expect(
      createMetricsRoute(
        supervisor,
        () => {},
        () => Promise.reject(broken),
      ),
    ).rejects.toBe(broken);
  });
});
