/**
 * Operator trial: the reference server's /metrics had the supervisor's metrics alone, no
 * `process_*` / `nodejs_*` families (memory, CPU, event-loop lag, GC) and no build info. They are
 * prom-client's default metrics, collected on the server's own registry (never prom-client's
 * global one, where an embedding app collects its own), and `ws_supervisor_build_info`.
 * Scraped here from a real `ws-supervisor serve` process, which must still exit on its own
 * after a SIGTERM: nothing the default metrics start (an event-loop-delay sampler, a GC
 * observer) may hold it open.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startReferenceServer } from '../../examples/reference-server/server.js';
import { runProgram } from '../helpers/process.js';
import { parseExposition } from '../helpers/prometheus.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

const processFamilies = [
  'process_resident_memory_bytes',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_gc_duration_seconds',
  'nodejs_version_info',
];

describe('reference server: process metrics and build info on /metrics', () => {
  it('a real `ws-supervisor serve` process serves them beside its own, and still exits on its own after SIGTERM', async () => {
    const program = runProgram('dist/src/cli.js', ['serve', '--port', '0', '--preset', 'test']);
    const [, url = ''] = await program.waitFor(/listening on ws:\/\/(\S+)/);
    const response = await fetch(`http://${url}/metrics`);
    expect(response.status).toBe(200);
    const m = parseExposition(await response.text()); // throws if the exposition does not parse
    for (const name of processFamilies) expect(m.families.has(name), name).toBe(true);
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.families.get('nodejs_gc_duration_seconds')?.type).toBe('histogram');
    expect(m.value('ws_supervisor_build_info', { version, node: process.version })).toBe(1);
    expect(m.value('ws_supervisor_admitted_total')).toBe(0);

    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
    expect(program.output()).toMatch(/drained; bye\n$/);
  }, 30_000);

  it("registers nothing on prom-client's global registry, and two servers in one process each have their own", async () => {
    const client = require('prom-client') as typeof PromClient;
    const before = (await client.register.getMetricsAsJSON()).map(({ name }) => name);
    const config = { host: '127.0.0.1', port: 0, limits: { preset: 'test' as const } };
    const first = await startReferenceServer(config, () => {});
    onTestFinished(() => first.close());
    const second = await startReferenceServer(config, () => {});
    onTestFinished(() => second.close());
    for (const server of [first, second]) {
      const m = parseExposition(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text());
      expect(m.families.has('process_resident_memory_bytes')).toBe(true);
      expect(m.value('ws_supervisor_build_info', { version })).toBe(1);
    }
    expect((await client.register.getMetricsAsJSON()).map(({ name }) => name)).toEqual(before);
  });
});
