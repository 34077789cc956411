/**
 * The reference server's GET /metrics as a Prometheus operator reads it,
 * scraped over HTTP after real sockets churn: the set of series does not grow
 * with users or connections, the gauges agree with GET /stats, every
 * admission is disposed of once in the counters, and a server's metrics stay
 * in its own registry (prom-client's default one is left alone).
 */
import { once } from 'node:events';
import { Registry, register } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { startReferenceServer } from '../../examples/reference-server/server.js';
import { createSupervisor, type SupervisorStats } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import { type Exposition, parseExposition } from '../helpers/prometheus.js';
import { connectRefused, ioWait } from '../helpers/server.js';

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  onTestFinished(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

/** Every series of a scrape, as `name{labels}`, sorted. */
// The supervisor's own: the process's (prom-client's defaults) gain a series per GC kind and
// per kind of libuv resource as the process meets them, whatever the number of users.
const seriesOf = (m: Exposition) =>
  [...m.families.values()]
    .filter((family) => family.name.startsWith('ws_supervisor_'))
    .flatMap((family) => family.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`))
    .sort();

const sumOf = (m: Exposition, name: string) =>
  (m.families.get(name)?.samples ?? []).reduce((total, sample) => total + sample.value, 0);

describe('reference server GET /metrics, as a Prometheus operator reads it', () => {
  it('series do not grow with users; gauges match /stats; counters add up after churn', async () => {
    const defaultNames = (await register.getMetricsAsJSON()).map((metric) => metric.name);
    const server = await startReferenceServer(
      {
        host: '127.0.0.1',
        port: 0,
        limits: {
          preset: 'test',
          maxConnectionsPerUser: 2,
          idleTimeoutMs: 600_000,
          heartbeatIntervalMs: 600_000,
        },
      },
      () => {},
    );
    onTestFinished(() => server.close());
    const http = `http://127.0.0.1:${server.port}`;
    const scrape = async () => parseExposition(await (await fetch(`${http}/metrics`)).text());
    const stats = async () => (await (await fetch(`${http}/stats`)).json()) as SupervisorStats;

    const before = seriesOf(await scrape());
    const users = 40;
    const clients: WebSocket[] = [];
    for (let i = 0; i < users; i++) {
      clients.push(await open(`${server.url}/?user=user-${i}`));
      clients.push(await open(`${server.url}/?user=user-${i}`));
    }
    let refused = 0;
    for (let i = 0; i < users; i += 4) {
      expect(await connectRefused(`${server.url}/?user=user-${i}`)).toBe(429);
      refused++;
    }
    // Churn: every third client leaves.
    let closed = 0;
    for (let i = 0; i < clients.length; i += 3) {
      clients[i]?.close(1000);
      closed++;
    }
    const open_ = clients.length - closed;
    await vi.waitFor(() => expect(server.supervisor.stats().connections).toBe(open_), ioWait);

    const m = await scrape();
    const s = await stats();
    // Not one series more for 40 users and 80 connections than for none.
    expect(seriesOf(m)).toEqual(before);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(s.byState.active);
    expect(m.value('ws_supervisor_connections', { state: 'connecting' })).toBe(s.byState.connecting);
    expect(m.value('ws_supervisor_connections', { state: 'draining' })).toBe(s.byState.draining);
    expect(m.value('ws_supervisor_users')).toBe(s.users);
    expect(m.value('ws_supervisor_idle_connections')).toBe(s.idle);
    expect(sumOf(m, 'ws_supervisor_users_by_capacity_band')).toBe(s.users);
    // Each admission and refusal counted once, each with its label.
    expect(m.value('ws_supervisor_admitted_total')).toBe(clients.length);
    expect(sumOf(m, 'ws_supervisor_rejected_total')).toBe(refused);
    expect(m.value('ws_supervisor_rejected_total', { reason: 'user-limit', status: '429' })).toBe(refused);
    expect(sumOf(m, 'ws_supervisor_disposed_total')).toBe(closed);
    expect(m.value('ws_supervisor_disposed_total', { reason: 'closed' })).toBe(closed);
    expect(m.value('ws_supervisor_connection_lifetime_seconds_count')).toBe(closed);
    // admitted − disposed = what is held now.
    expect(m.value('ws_supervisor_admitted_total') - sumOf(m, 'ws_supervisor_disposed_total')).toBe(
      s.connections,
    );
    // The server's registry is its own: prom-client's default one did not change.
    expect((await register.getMetricsAsJSON()).map((metric) => metric.name)).toEqual(defaultNames);
  });
});

describe('registerMetrics with a prefix, as an operator reads the HELP lines', () => {
  it('a metric named in a HELP text is one the scrape has, under its prefix', async () => {
    const supervisor = createSupervisor({ authenticate: () => 'u' });
    onTestFinished(() => supervisor.shutdown());
    const registry = new Registry();
    onTestFinished(registerMetrics(supervisor, { registry, prefix: 'chat_' }));
    const m = parseExposition(await registry.metrics());
    const names = new Set([...m.families.values()].flatMap((f) => f.samples.map((s) => s.name)));
    const named = [...m.families.values()].flatMap(
      (f) => f.help.match(/\b[a-z_:]+_(?:total|seconds|count|sum)\b/g) ?? [],
    );
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect(names, `HELP names ${name}`).toContain(name);
  });
});
