/**
 * Review of the reference server's /metrics: prom-client's default metrics were collected per
 * server start, and each collection starts a GC PerformanceObserver (and an event-loop-delay
 * sampler) that nothing can stop. A process that started and closed servers (a test run, an app
 * restarting its server in place) kept one observer per start: after 100 cycles one gc() ran 100
 * observer callbacks. Now they are collected once per process, on a registry of their own.
 *
 * Observed in a child process with --expose-gc, from the built server: after 50 start/close
 * cycles, one gc() is observed by the GC histogram of one collector, not of 50; and two servers
 * then running side by side both still serve the process metrics.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

// Counts, per forced gc(), the distinct histograms whose observe() ran for it: one per GC
// observer alive in the process (prom-client's GC collector makes one histogram per collection).
const child = `
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
const require = createRequire(process.cwd() + '/package.json');
const { Histogram, register } = require('prom-client');
const { startReferenceServer } = await import(process.cwd() + '/dist/examples/reference-server/server.js');
const observing = new Set();
// observe() is set per instance (observeWithoutExemplar), which it calls
const observe = Histogram.prototype.observeWithoutExemplar;
Histogram.prototype.observeWithoutExemplar = function (...args) {
  if (this.name === 'nodejs_gc_duration_seconds') observing.add(this);
  return observe.apply(this, args);
};
async function observersPerGc() {
  await sleep(20);
  observing.clear();
  globalThis.gc();
  await sleep(50); // GC entries reach their observers asynchronously
  return observing.size;
}
const config = { host: '127.0.0.1', port: 0, limits: { preset: 'test' } };
const quiet = () => {};
const first = await startReferenceServer(config, quiet);
await first.close();
const afterOne = await observersPerGc();
for (let i = 1; i < 50; i++) await (await startReferenceServer(config, quiet)).close();
const afterFifty = await observersPerGc();
const servers = [await startReferenceServer(config, quiet), await startReferenceServer(config, quiet)];
const scrapes = [];
for (const server of servers) scrapes.push(await (await fetch('http://127.0.0.1:' + server.port + '/metrics')).text());
for (const server of servers) await server.close();
const globalNames = (await register.getMetricsAsJSON()).map(({ name }) => name);
console.log(JSON.stringify({ afterOne, afterFifty, scrapes, globalNames }));
`;

interface Report {
  afterOne: number;
  afterFifty: number;
  scrapes: string[];
  globalNames: string[];
}

async function runChild(): Promise<Report> {
  if (!existsSync(`${root}dist/examples/reference-server/server.js`)) {
    throw new Error('dist/ is missing: run "npm run build" first (npm test does)');
  }
  const node = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', child], {
    cwd: root,
  });
  let stdout = '';
  let stderr = '';
  node.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  node.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const [code] = await once(node, 'exit');
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Report;
}

describe('reference server: default metrics collected once per process', () => {
  it('50 start/close cycles leave one GC observer, and two servers side by side both serve the process metrics', async () => {
    const report = await runChild();
    expect(report.afterOne).toBe(1);
    expect(report.afterFifty).toBe(1);
    for (const text of report.scrapes) {
      expect(text).toMatch(/^process_resident_memory_bytes \d/m);
      expect(text).toMatch(/^nodejs_gc_duration_seconds_count\{kind="major"\} [1-9]/m);
      expect(text).toMatch(/^ws_supervisor_build_info\{version="[^"]+",node="v[\d.]+"\} 1$/m);
      expect(text).toMatch(/^ws_supervisor_admitted_total 0$/m);
      // one exposition: each family once
      expect(text.match(/^# TYPE process_resident_memory_bytes /gm)).toHaveLength(1);
    }
    expect(report.globalNames).toEqual([]);
  }, 60_000);
});
