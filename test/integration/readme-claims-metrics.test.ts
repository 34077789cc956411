/**
 * README, "Metrics": `users_by_capacity_band` has the label `level`, "`below`,
 * or the lowest level of the band the user is in" (after `down 0.9`, 0.8), for the app's own
 * `capacityLevels`, not only the defaults (metrics.test.ts covers those):
 * levels of its own, two levels that share a count (a user at both is in the
 * higher one's band), and `capacityLevels: []` (no level: every user below).
 * Counters follow the events from the moment of registration. Real sockets.
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { Supervisor } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import { parseExposition } from '../helpers/prometheus.js';
import { type Client, type RulesServer, refusal, startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

function metricsOf(supervisor: Supervisor) {
  const registry = new Registry();
  onTestFinished(registerMetrics(supervisor, { registry }));
  return async () => parseExposition(await registry.metrics());
}

const bands = async (scrape: () => ReturnType<ReturnType<typeof metricsOf>>) =>
  Object.fromEntries(
    ((await scrape()).families.get('ws_supervisor_users_by_capacity_band')?.samples ?? []).map((sample) => [
      sample.labels.level,
      sample.value,
    ]),
  );

async function openMany(t: RulesServer, user: string, count: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let n = 0; n < count; n += 1) clients.push(await t.open(user));
  return clients;
}

async function closeAll(t: RulesServer, clients: Client[]): Promise<void> {
  for (const { ws } of clients) ws.close();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
}

describe('users_by_capacity_band with the app’s capacityLevels', () => {
  it('its label is `level`, never `band` (an integer everywhere else: userStats().band, the capacity event)', async () => {
    const t = await startRulesServer();
    const scrape = metricsOf(t.supervisor);
    const clients = await openMany(t, 'ivy', 5);
    const samples = (await scrape()).families.get('ws_supervisor_users_by_capacity_band')?.samples ?? [];
    expect(samples.every((sample) => Object.keys(sample.labels).join() === 'level')).toBe(true);
    expect(samples.map((sample) => sample.labels.level)).toEqual(['below', '0.5', '0.8', '0.9']);
    await closeAll(t, clients);
  });

  it('levels of its own: one series per level, named by it, and below', async () => {
    // Limit 5: 0.2 is reached at 1, 0.6 at 3.
    const t = await startRulesServer({ capacityLevels: [0.2, 0.6], evictionThreshold: 1 });
    const scrape = metricsOf(t.supervisor);
    expect(await bands(scrape)).toEqual({ below: 0, '0.2': 0, '0.6': 0 });
    const clients = [...(await openMany(t, 'amy', 1)), ...(await openMany(t, 'bob', 3))];
    expect(await bands(scrape)).toEqual({ below: 0, '0.2': 1, '0.6': 1 });
    await closeAll(t, clients);
    expect(await bands(scrape)).toEqual({ below: 0, '0.2': 0, '0.6': 0 });
  });

  it('two levels that share a count: a user at both is in the higher one’s band', async () => {
    // Limit 2: 0.8 and 0.9 are both reached at 2.
    const t = await startRulesServer({
      maxConnectionsPerUser: 2,
      capacityLevels: [0.8, 0.9],
      evictionThreshold: 1,
    });
    const scrape = metricsOf(t.supervisor);
    const clients = [...(await openMany(t, 'cat', 2)), ...(await openMany(t, 'dan', 1))];
    expect(await bands(scrape)).toEqual({ below: 1, '0.8': 0, '0.9': 1 });
    const alerts = (await scrape()).families.get('ws_supervisor_capacity_alerts_total')?.samples ?? [];
    expect(
      alerts.filter((sample) => sample.labels.direction === 'up').map((s) => [s.labels.level, s.value]),
    ).toEqual([
      ['0.8', 1],
      ['0.9', 1],
    ]);
    await closeAll(t, clients);
  });

  it('the label is the lowest level of the band the user is in: after `down 0.9` the user counts under 0.8', async () => {
    // Not the last capacity event's level: on the way down that is the level left (0.9).
    const t = await startRulesServer({ maxConnectionsPerUser: 10 });
    const scrape = metricsOf(t.supervisor);
    const seen: string[] = [];
    t.supervisor.on('capacity', (e) => seen.push(`${e.direction} ${e.level} band ${e.band}`));
    const clients = await openMany(t, 'gil', 9);
    expect(seen).toEqual(['up 0.5 band 1', 'up 0.8 band 2', 'up 0.9 band 3']);
    expect(await bands(scrape)).toMatchObject({ '0.9': 1 });
    // Closed one by one until 0.9 is left (its down threshold is below its up one).
    while (seen.length === 3 && clients.length > 6) {
      const { ws } = clients.shift() as Client;
      ws.close();
      await vi.waitFor(() => expect(t.supervisor.userStats('gil')).toMatchObject({ live: clients.length }));
    }
    expect(seen[3]).toBe('down 0.9 band 2');
    expect(await bands(scrape)).toEqual({ below: 0, '0.5': 0, '0.8': 1, '0.9': 0 });
    await closeAll(t, clients);
  });

  it('capacityLevels: [] — every user is below, and no alert series', async () => {
    const t = await startRulesServer({ capacityLevels: [] });
    const scrape = metricsOf(t.supervisor);
    const clients = await openMany(t, 'eve', 5);
    expect(await bands(scrape)).toEqual({ below: 1 });
    expect((await scrape()).families.get('ws_supervisor_capacity_alerts_total')?.samples ?? []).toEqual([]);
    await closeAll(t, clients);
  });
});

describe('counters follow the events from the moment of registration', () => {
  it('what happened before registerMetrics() is not counted; the gauges read the state at each scrape', async () => {
    const t = await startRulesServer();
    const before = await openMany(t, 'fay', 2);
    const scrape = metricsOf(t.supervisor);
    let m = await scrape();
    expect(m.value('ws_supervisor_admitted_total')).toBe(0);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(2);
    const after = await openMany(t, 'fay', 1);
    m = await scrape();
    expect(m.value('ws_supervisor_admitted_total')).toBe(1);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(3);
    await closeAll(t, [...before, ...after]);
    m = await scrape();
    expect(m.value('ws_supervisor_disposed_total', { reason: 'closed' })).toBe(3);
  });
});

describe('no metric has a user label (README, User ids)', () => {
  it('a scrape names no user id, whatever the users did', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 2 });
    const scrape = metricsOf(t.supervisor);
    const clients = [...(await openMany(t, 'user-amy', 2)), ...(await openMany(t, 'user-bob', 1))];
    expect((await refusal(t.url('user-amy'))).status).toBe(429);
    const m = await scrape();
    for (const family of m.families.values()) {
      for (const sample of family.samples) expect(Object.keys(sample.labels)).not.toContain('userId');
    }
    const text = [...m.families.values()]
      .flatMap((family) => family.samples.map((s) => JSON.stringify(s.labels)))
      .join('\n');
    expect(text).not.toMatch(/user-(amy|bob)/);
    await closeAll(t, clients);
  });
});
