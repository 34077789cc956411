/**
 * Prometheus metrics (issue 11, item 5) on real sockets and simulated time
 * (test preset: limit 5, T = 4, idleTimeoutMs 1000, drainTimeoutMs 500).
 * Every scrape is prom-client's own text, read back by a strict parser of
 * the exposition format; the numbers are what the test did. The reference
 * server's GET /metrics is scraped over HTTP in test/examples/.
 */
import { once } from 'node:events';
import { Gauge, Registry, register } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { Refusal, type Supervisor, SupervisorError } from '../../src/index.js';
import { type MetricsSubject, metricNames, registerMetrics } from '../../src/metrics/index.js';
import { DISPOSE_REASONS, EVICTION_CAUSES, REJECT_REASONS, REJECT_STATUSES } from '../../src/reasons.js';
import { frame, rawWebSocket } from '../helpers/cleanup.js';
import { parseExposition } from '../helpers/prometheus.js';
import {
  type Client,
  closeOf,
  drainTimeoutMs,
  idleTimeoutMs,
  limit,
  refusal,
  startRulesServer,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait } from '../helpers/server.js';

const scrape = async (registry: Registry) => parseExposition(await registry.metrics());

/** A registry of its own per test, and the metrics in it, removed after the test. */
function metricsOf(supervisor: MetricsSubject) {
  const registry = new Registry();
  const unregister = registerMetrics(supervisor, { registry });
  onTestFinished(unregister);
  return { registry, unregister };
}

describe('registerMetrics', () => {
  it('exports the counts, the counters by reason and both histograms, as the test made them', async () => {
    const t = await startRulesServer();
    const { registry } = metricsOf(t.supervisor);
    const ann: Client[] = [];
    for (let i = 0; i < limit; i++) ann.push(await t.open('ann'));
    const bob = await t.open('bob');
    expect((await refusal(t.url('ann'))).status).toBe(429);
    expect((await refusal(`ws://127.0.0.1:${t.port}/`)).status).toBe(401); // no ?user=

    let m = await scrape(registry);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(6);
    expect(m.value('ws_supervisor_connections', { state: 'connecting' })).toBe(0);
    expect(m.value('ws_supervisor_connections', { state: 'draining' })).toBe(0);
    expect(m.value('ws_supervisor_users')).toBe(2);
    expect(m.value('ws_supervisor_idle_connections')).toBe(0);
    expect(m.value('ws_supervisor_admitted_total')).toBe(6);
    expect(m.value('ws_supervisor_rejected_total', { reason: 'user-limit', status: '429' })).toBe(1);
    expect(m.value('ws_supervisor_rejected_total', { reason: 'unauthenticated', status: '401' })).toBe(1);
    // Every known reason has its series from the start.
    expect(m.value('ws_supervisor_rejected_total', { reason: 'process-limit', status: '503' })).toBe(0);
    expect(m.value('ws_supervisor_disposed_total', { reason: 'evicted' })).toBe(0);
    expect(m.families.get('ws_supervisor_cleanup_latency_seconds')?.type).toBe('histogram');
    // Capacity (levels 0.5/0.8/0.9 of 5: reached at 3, 4, 5): ann at 5 is in the top band, bob below.
    expect(m.value('ws_supervisor_users_by_capacity_band', { level: 'below' })).toBe(1);
    expect(m.value('ws_supervisor_users_by_capacity_band', { level: '0.5' })).toBe(0);
    expect(m.value('ws_supervisor_users_by_capacity_band', { level: '0.9' })).toBe(1);
    for (const level of ['0.5', '0.8', '0.9']) {
      expect(m.value('ws_supervisor_capacity_alerts_total', { level, direction: 'up' })).toBe(1);
    }

    // All idle at once: ann is at 5 ≥ T, so idle ones go until she is below T (2 of them).
    const evictions = ann.map(({ ws }) => closeOf(ws));
    t.clock.increment(idleTimeoutMs);
    await vi.waitFor(() => expect(t.events.disposed).toHaveLength(2), ioWait);
    m = await scrape(registry);
    expect(m.value('ws_supervisor_evicted_total', { cause: 'idle' })).toBe(2);
    expect(m.value('ws_supervisor_evicted_total', { cause: 'over-limit' })).toBe(0);
    expect(m.value('ws_supervisor_disposed_total', { reason: 'evicted' })).toBe(2);
    expect(m.value('ws_supervisor_idle_connections')).toBe(4); // ann's 3 left and bob
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(4);
    // ann fell to 3: below 0.9's and 0.8's down points (4, with hysteresis 0.1), not below 0.5's (2).
    expect(m.value('ws_supervisor_users_by_capacity_band', { level: '0.5' })).toBe(1);
    expect(m.value('ws_supervisor_users_by_capacity_band', { level: '0.9' })).toBe(0);
    expect(m.value('ws_supervisor_capacity_alerts_total', { level: '0.9', direction: 'down' })).toBe(1);
    expect(m.value('ws_supervisor_capacity_alerts_total', { level: '0.8', direction: 'down' })).toBe(1);
    expect(m.value('ws_supervisor_capacity_alerts_total', { level: '0.5', direction: 'down' })).toBe(0);

    for (const { ws } of [...ann, bob]) ws.close();
    await Promise.all(evictions);
    await allDisposed(t.supervisor);
    m = await scrape(registry);
    expect(m.value('ws_supervisor_disposed_total', { reason: 'closed' })).toBe(4);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(0);
    expect(m.value('ws_supervisor_users')).toBe(0);
    // Admitted at 0, all gone at 1 s of simulated time: six lifetimes of exactly 1 s.
    expect(m.value('ws_supervisor_connection_lifetime_seconds_count')).toBe(6);
    expect(m.value('ws_supervisor_connection_lifetime_seconds_sum')).toBe(6);
    expect(m.value('ws_supervisor_connection_lifetime_seconds_bucket', { le: '0.1' })).toBe(0);
    expect(m.value('ws_supervisor_connection_lifetime_seconds_bucket', { le: '1' })).toBe(6);
    // Every socket ended and was released in the same step: cleanup took no time.
    expect(m.value('ws_supervisor_cleanup_latency_seconds_count')).toBe(6);
    expect(m.value('ws_supervisor_cleanup_latency_seconds_sum')).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it('exports the room count (stats().resources.rooms) at each scrape: a room counts while it has a member', async () => {
    const t = await startRulesServer({
      onOpen: (connection) => {
        connection.join('lobby');
        connection.join(`user:${connection.userId}`);
      },
    });
    const { registry } = metricsOf(t.supervisor);
    expect((await scrape(registry)).value('ws_supervisor_rooms')).toBe(0);
    const ann = await t.open('ann');
    await t.open('ann');
    const bob = await t.open('bob');
    // lobby, user:ann and user:bob; a second member adds no room.
    expect((await scrape(registry)).value('ws_supervisor_rooms')).toBe(3);
    expect(t.supervisor.stats().resources.rooms).toBe(3);
    bob.handle.leave('lobby');
    expect((await scrape(registry)).value('ws_supervisor_rooms')).toBe(3); // ann is still in it
    bob.handle.leave('user:bob');
    expect((await scrape(registry)).value('ws_supervisor_rooms')).toBe(2);
    for (const { ws } of [ann, bob]) ws.close();
    for (const handle of t.handles) handle.close();
    await allDisposed(t.supervisor);
    expect((await scrape(registry)).value('ws_supervisor_rooms')).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  // An SRE trial: the leak check reads stats().resources, and only `connections` was exported, so
  // a lingering or leaked user supervisor, a timer or a socket listener showed nowhere a scrape sees.
  it('exports stats().resources at each scrape, one series per field: a lingering supervisor shows with no connection', async () => {
    const t = await startRulesServer({ lingerMs: 1_000 });
    const { registry } = metricsOf(t.supervisor);
    const resources = async () => {
      const m = await scrape(registry);
      return Object.fromEntries(
        Object.keys(t.supervisor.stats().resources).map((resource) => [
          resource,
          m.value('ws_supervisor_resources', { resource }),
        ]),
      );
    };
    expect(Object.keys(await resources())).toHaveLength(9);
    expect(Object.values(await resources()).every((value) => value === 0)).toBe(true);
    const { ws } = await t.open('ann');
    expect(await resources()).toEqual(t.supervisor.stats().resources);
    expect(await resources()).toMatchObject({
      connectionActors: 1,
      userSupervisors: 1,
      lingeringSupervisors: 0,
    });
    ws.close();
    await allDisposed(t.supervisor);
    // No connection left, but ann's supervisor lingers for lingerMs: only `resources` says so.
    const m = await scrape(registry);
    expect(m.value('ws_supervisor_connections', { state: 'active' })).toBe(0);
    expect(m.value('ws_supervisor_users')).toBe(0);
    expect(await resources()).toMatchObject({
      connectionActors: 0,
      userSupervisors: 1,
      lingeringSupervisors: 1,
    });
    t.clock.increment(1_000);
    await vi.waitFor(async () =>
      expect(Object.values(await resources()).every((value) => value === 0)).toBe(true),
    );
    expectNoLeaks(t.supervisor);
  });

  // A review: the help text said each is 0 when no client is connected, but a refused client is
  // not a connection, and a refusal sent as a close frame holds its own until its socket closes.
  it('counts a close-frame refusal in flight (refuse: close) in closeRefusals, a timer and socket listeners, with no connection', async () => {
    const t = await startRulesServer({ refuse: 'close', authenticate: () => null });
    const { registry } = metricsOf(t.supervisor);
    const resource = async (name: string) =>
      (await scrape(registry)).value('ws_supervisor_resources', { resource: name });
    // A raw client: it reads the 101 and the close frame, and never answers it.
    const socket = await rawWebSocket(t.port, 'ann');
    onTestFinished(() => void socket.destroy());
    await vi.waitFor(async () => expect(await resource('closeRefusals')).toBe(1), ioWait);
    expect(t.supervisor.stats().connections).toBe(0);
    expect(await resource('pendingTimers')).toBe(1);
    expect(await resource('socketListeners')).toBe(3);
    t.clock.increment(t.supervisor.options.closeRefusalTimeoutMs); // then the refused peer is terminated
    await vi.waitFor(async () => {
      for (const name of ['closeRefusals', 'pendingTimers', 'socketListeners'])
        expect(await resource(name)).toBe(0);
    }, ioWait);
    expectNoLeaks(t.supervisor);
  });

  // CommonJS trial: `throw new Refusal(401, …)` in authenticate counted as reason="refused" with
  // the app's 403s, 429s and 503s, so an alert on bad tokens built on unauthenticated missed it.
  it("counts each refusal under its HTTP status: an app's Refusal by its own, beside the reasons' fixed ones", async () => {
    const t = await startRulesServer({
      authenticate: (request) => {
        const query = new URLSearchParams(request.url?.split('?')[1]);
        const refuse = query.get('refuse');
        if (refuse === '401') throw new Refusal(401, 'bad token');
        if (refuse === '403') return new Refusal(403, 'suspended');
        const user = query.get('user');
        return user === null ? null : { userId: user };
      },
    });
    const { registry } = metricsOf(t.supervisor);
    const base = `ws://127.0.0.1:${t.port}/`;
    for (const query of ['?refuse=401', '?refuse=401', '?refuse=403', '']) await refusal(`${base}${query}`);
    const m = await scrape(registry);
    const rejected = (labels: Record<string, string>) => m.value('ws_supervisor_rejected_total', labels);
    expect(rejected({ reason: 'refused', status: '401' })).toBe(2);
    expect(rejected({ reason: 'refused', status: '403' })).toBe(1);
    expect(rejected({ reason: 'refused', status: '429' })).toBe(0);
    expect(rejected({ reason: 'refused', status: 'none' })).toBe(0);
    expect(rejected({ reason: 'unauthenticated', status: '401' })).toBe(1);
    // What an alert on bad tokens sums: every status="401" series, whichever way authenticate said it.
    const unauthorized = (m.families.get('ws_supervisor_rejected_total')?.samples ?? [])
      .filter((sample) => sample.labels.status === '401')
      .reduce((sum, sample) => sum + sample.value, 0);
    expect(unauthorized).toBe(3);
    expectNoLeaks(t.supervisor);
  });

  // As rejected_total and disposed_total: an increase() over a series that appears with its
  // first alert misses that alert.
  it('exports every known reason and cause at 0 before the first event, and histograms over the README’s ranges', async () => {
    const t = await startRulesServer();
    const { registry } = metricsOf(t.supervisor);
    const m = await scrape(registry);
    const series = (name: string, label: string) =>
      (m.families.get(`ws_supervisor_${name}`)?.samples ?? []).map((sample) => [
        sample.labels[label],
        sample.value,
      ]);
    const zeroes = (labels: readonly string[]) => [...labels].sort().map((label) => [label, 0]);
    // By reason and status: each reason's own statuses, and `none` (the socket was gone first).
    const rejected = (m.families.get('ws_supervisor_rejected_total')?.samples ?? []).map(
      (sample) => `${sample.labels.reason} ${sample.labels.status} ${sample.value}`,
    );
    expect(rejected.sort()).toEqual(
      REJECT_REASONS.flatMap((reason) =>
        [...REJECT_STATUSES[reason], 'none'].map((status) => `${reason} ${status} 0`),
      ).sort(),
    );
    expect(rejected).toHaveLength(31);
    expect(series('disposed_total', 'reason').sort()).toEqual(zeroes(DISPOSE_REASONS));
    expect(series('evicted_total', 'cause').sort()).toEqual(zeroes(EVICTION_CAUSES));
    // "1 ms … 60 s" and "0.1 s … 1 day": the first and last finite bucket of each.
    const bounds = (name: string) => {
      const finite = (m.families.get(`ws_supervisor_${name}`)?.samples ?? [])
        .filter((sample) => sample.name.endsWith('_bucket') && sample.labels.le !== '+Inf')
        .map((sample) => Number(sample.labels.le));
      return [finite[0], finite.at(-1)];
    };
    expect(bounds('cleanup_latency_seconds')).toEqual([0.001, 60]);
    expect(bounds('connection_lifetime_seconds')).toEqual([0.1, 86_400]);
  });

  it('exports capacity_alerts_total at 0 for every level and direction before the first alert', async () => {
    const t = await startRulesServer({ capacityLevels: [0.6, 0.8] });
    const { registry } = metricsOf(t.supervisor);
    const m = await scrape(registry);
    const alerts = m.families.get('ws_supervisor_capacity_alerts_total')?.samples ?? [];
    expect(alerts.map(({ labels, value }) => ({ ...labels, value }))).toEqual(
      expect.arrayContaining([
        { level: '0.6', direction: 'up', value: 0 },
        { level: '0.6', direction: 'down', value: 0 },
        { level: '0.8', direction: 'up', value: 0 },
        { level: '0.8', direction: 'down', value: 0 },
      ]),
    );
    expect(alerts).toHaveLength(4);
  });

  it('the cleanup histogram shows a peer whose TCP connection lingered after its close frame', async () => {
    const t = await startRulesServer();
    const { registry } = metricsOf(t.supervisor);
    // A raw client that sends its close frame but never ends its side of the TCP connection.
    const socket = await rawWebSocket(t.port, 'lin', { allowHalfOpen: true });
    socket.write(frame(0x8, Buffer.from([0x03, 0xe8]))); // close, 1000
    await vi.waitFor(() => expect(t.supervisor.stats().byState.draining).toBe(1), ioWait);
    t.clock.increment(drainTimeoutMs); // drainTimeout: terminated, disposed
    expect(t.events.disposed).toMatchObject([{ userId: 'lin', reason: 'closed', cleanupMs: drainTimeoutMs }]);

    const m = await scrape(registry);
    expect(m.value('ws_supervisor_cleanup_latency_seconds_count')).toBe(1);
    expect(m.value('ws_supervisor_cleanup_latency_seconds_sum')).toBe(drainTimeoutMs / 1000);
    expect(m.value('ws_supervisor_cleanup_latency_seconds_bucket', { le: '0.25' })).toBe(0);
    expect(m.value('ws_supervisor_cleanup_latency_seconds_bucket', { le: '0.5' })).toBe(1);
    expectNoLeaks(t.supervisor);
  });

  it('gauges read the O(1) totals, never the per-user walk, and the undo removes metrics and listeners', async () => {
    const t = await startRulesServer();
    const statsCalls: unknown[] = [];
    let listening = 0;
    const watched: MetricsSubject = {
      stats: (options) => {
        statsCalls.push(options);
        return t.supervisor.stats(options);
      },
      on: (name, listener) => {
        listening += 1;
        const off = t.supervisor.on(name, listener);
        return () => {
          listening -= 1;
          off();
        };
      },
    };
    const registry = new Registry();
    const unregister = registerMetrics(watched, { registry, prefix: 'app_ws_' });
    expect(listening).toBe(5); // admitted, rejected, evicted, capacity, disposed
    const { ws } = await t.open('una');
    const m = await scrape(registry);
    expect(m.value('app_ws_admitted_total')).toBe(1);
    expect(m.value('app_ws_users')).toBe(1);
    expect(statsCalls.length).toBeGreaterThan(0);
    expect(statsCalls.every((options) => options === undefined)).toBe(true);

    unregister();
    unregister(); // safe to repeat
    expect(listening).toBe(0);
    expect(registry.getMetricsAsArray()).toEqual([]);
    // The names are free again, and a new registration counts from zero.
    const again = metricsOf(t.supervisor);
    expect((await scrape(again.registry)).value('ws_supervisor_admitted_total')).toBe(0);
    expect((await scrape(again.registry)).value('ws_supervisor_users')).toBe(1);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("registers in prom-client's default registry when given none", async () => {
    const t = await startRulesServer();
    const unregister = registerMetrics(t.supervisor);
    onTestFinished(unregister);
    await t.open('dee');
    const m = parseExposition(await register.metrics());
    expect(m.value('ws_supervisor_admitted_total')).toBe(1);
    unregister();
    expect(register.getSingleMetric('ws_supervisor_admitted_total')).toBeUndefined();
  });

  it('takes the registry itself in place of the options, as registerMetrics(supervisor, registry)', async () => {
    const t = await startRulesServer();
    const registry = new Registry();
    const unregister = registerMetrics(t.supervisor, registry);
    const { ws } = await t.open('ivy');
    expect((await scrape(registry)).value('ws_supervisor_admitted_total')).toBe(1);
    unregister();
    expect(await registry.getMetricsAsJSON()).toEqual([]);
    const closing = once(ws, 'close');
    ws.close();
    await closing;
  });

  // metricNames is exported for dashboards and alerts to read; registerMetrics() names every
  // series from it, so a caller's write must fail, not rename the series of every later call.
  it('names its series from metricNames, which a caller cannot change', async () => {
    const t = await startRulesServer();
    expect(() => {
      (metricNames as Record<string, string>).admitted = 'renamed_total';
    }).toThrow(TypeError);
    const { registry } = metricsOf(t.supervisor);
    const { ws } = await t.open('kit');
    const m = await scrape(registry);
    expect(m.value(`ws_supervisor_${metricNames.admitted}`)).toBe(1);
    expect(m.value('ws_supervisor_admitted_total')).toBe(1);
    expect(registry.getSingleMetric('ws_supervisor_renamed_total')).toBeUndefined();
    const closing = once(ws, 'close');
    ws.close();
    await closing;
  });

  it('two supervisors in one registry, each with its own prefix', async () => {
    const a = await startRulesServer();
    const b = await startRulesServer();
    const registry = new Registry();
    onTestFinished(registerMetrics(a.supervisor, { registry, prefix: 'a_' }));
    onTestFinished(registerMetrics(b.supervisor, { registry, prefix: 'b_' }));
    const { ws } = await b.open('bo');
    const m = await scrape(registry);
    expect([m.value('a_users'), m.value('b_users')]).toEqual([0, 1]);
    // The README: a prefix replaces ws_supervisor_, it is not added to it.
    expect([...m.families.keys()].filter((name) => name.includes('ws_supervisor'))).toEqual([]);
    const closing = once(ws, 'close');
    ws.close();
    await closing;
  });

  it('a scrape after shutdown answers, every counter kept; a connection the supervisor ended has no cleanup latency to observe', async () => {
    const t = await startRulesServer();
    const { registry } = metricsOf(t.supervisor);
    for (const user of ['sam', 'sam', 'sue']) await t.open(user);
    const before = await scrape(registry);
    expect(before.value('ws_supervisor_admitted_total')).toBe(3);

    const stopped = t.supervisor.shutdown();
    t.clock.increment(drainTimeoutMs); // the shutdown deadline: whoever has not answered is terminated
    await stopped;
    expect((await refusal(t.url('sid'))).status).toBe(503);
    const after = await scrape(registry);
    expect(after.value('ws_supervisor_admitted_total')).toBe(3);
    expect(after.value('ws_supervisor_disposed_total', { reason: 'shutdown' })).toBe(3);
    expect(after.value('ws_supervisor_rejected_total', { reason: 'shutting-down', status: '503' })).toBe(1);
    expect(after.value('ws_supervisor_connections', { state: 'active' })).toBe(0);
    expect(after.value('ws_supervisor_connection_lifetime_seconds_count')).toBe(3);
    // The supervisor ended them before their sockets said anything: no socket end to measure
    // from, so the cleanup histogram counts fewer than disposed_total, and its HELP says so.
    expect(t.events.disposed.map(({ cleanupMs }) => cleanupMs)).toEqual([undefined, undefined, undefined]);
    expect(after.value('ws_supervisor_cleanup_latency_seconds_count')).toBe(0);
    expect(after.families.get('ws_supervisor_cleanup_latency_seconds')?.help).toMatch(/not observed/i);
    expectNoLeaks(t.supervisor);
  });

  it("outside cluster mode registers no cluster_ gauge, and its undo leaves the app's metric of that name", async () => {
    const t = await startRulesServer();
    const registry = new Registry();
    // The app's own metric, named as the gauge a supervisor in cluster mode would register.
    const own = new Gauge({
      name: 'ws_supervisor_cluster_lease_held',
      help: 'the app',
      registers: [registry],
    });
    own.set(7);
    const unregister = registerMetrics(t.supervisor, { registry });
    const m = await scrape(registry);
    expect([...m.families.keys()].filter((family) => family.startsWith('ws_supervisor_cluster_'))).toEqual([
      'ws_supervisor_cluster_lease_held',
    ]);
    expect(m.families.get('ws_supervisor_cluster_lease_held')?.help).toBe('the app');
    unregister();
    expect((await scrape(registry)).value('ws_supervisor_cluster_lease_held')).toBe(7);
  });

  describe('bad input: WSSUP_INVALID_ARGUMENT, and nothing registered', () => {
    const supervisorLike = { stats: () => ({}), on: () => () => {} } as unknown as Supervisor;
    const cases: [string, unknown, (registry: Registry) => unknown, RegExp][] = [
      [
        'a prefix that starts with a digit',
        supervisorLike,
        (registry) => ({ registry, prefix: '1x_' }),
        /prefix must match/,
      ],
      [
        'a prefix with a dash',
        supervisorLike,
        (registry) => ({ registry, prefix: 'my-app_' }),
        /prefix must match/,
      ],
      [
        'a prefix that is not a string',
        supervisorLike,
        (registry) => ({ registry, prefix: 42 }),
        /prefix must match/,
      ],
      [
        'a registry that is not one',
        supervisorLike,
        () => ({ registry: {} }),
        /must be a prom-client Registry/,
      ],
      [
        'an unknown option',
        supervisorLike,
        (registry) => ({ registy: registry }),
        /unknown option "registy"/,
      ],
      ['options that are not an object', supervisorLike, () => 'ws_', /options must be an object/],
      ['something else than a supervisor', {}, (registry) => ({ registry }), /must be a supervisor/],
    ];
    it.each(cases)('%s', (_name, supervisor, options, message) => {
      const registry = new Registry();
      let error: unknown;
      try {
        registerMetrics(supervisor as MetricsSubject, options(registry) as never);
      } catch (failure) {
        error = failure;
      }
      expect(error).toBeInstanceOf(SupervisorError);
      expect(error).toMatchObject({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringMatching(message),
      });
      expect(registry.getMetricsAsArray()).toEqual([]);
      expect(
        register.getMetricsAsArray().filter((metric) => metric.name.startsWith('ws_supervisor_')),
      ).toEqual([]);
    });

    it('a second registration under the same names, in the same registry', async () => {
      const t = await startRulesServer();
      const { registry } = metricsOf(t.supervisor);
      const before = registry.getMetricsAsArray().length;
      expect(() => registerMetrics(t.supervisor, { registry })).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringContaining('already holds ws_supervisor_'),
        }),
      );
      // It says how to unregister: shutdown() does not, so a test suite on the default registry trips on it.
      expect(() => registerMetrics(t.supervisor, { registry })).toThrow(
        /call the function that the first registerMetrics\(\) returned \(shutdown\(\) does not\)/,
      );
      expect(registry.getMetricsAsArray()).toHaveLength(before);
    });
  });
});
