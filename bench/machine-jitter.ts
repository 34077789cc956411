/**
 * The machine's own tail: a fixed CPU-only task that allocates nothing,
 * warmed up, then timed many times. On a shared VM its p99 is well above
 * its median with no GC and no I/O in sight, and that gap is a floor under
 * every latency percentile the other benchmarks report (the admission
 * p99 of bench/admission.ts above all). Run it next to them to read them.
 *
 *   node dist/bench/machine-jitter.js [--samples 20000]
 */
import { performance } from 'node:perf_hooks';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import { fixed, percentile, sortNumbers, table } from './figures.js';

const commandLine = readCommandLine('Usage: node dist/bench/machine-jitter.js [--samples 20000]', () =>
  parseCommandLine({ options: { samples: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }),
);
const samples = commandLine.number('samples', 20_000);

/** A few µs to a few ms of integer arithmetic, depending on `rounds`. */
function task(rounds: number): number {
  let x = 0;
  for (let i = 0; i < rounds; i++) x = (x + i * 2654435761) % 1_000_003;
  return x;
}

let sink = 0;
const rows: string[][] = [];
for (const rounds of [2_000, 8_000, 20_000]) {
  for (let i = 0; i < 3_000; i++) sink += task(rounds); // warm-up: optimised before timing
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    sink += task(rounds);
    times.push(performance.now() - started);
  }
  const sorted = sortNumbers(times);
  const us = (q: number) => `${fixed(percentile(sorted, q) * 1000, 0)} µs`;
  rows.push([
    us(50),
    us(90),
    us(99),
    us(99.9),
    `${fixed(percentile(sorted, 99) / percentile(sorted, 50), 1)}×`,
  ]);
}
console.log(
  `The machine's own tail (a fixed CPU-only task, ${samples.toLocaleString('en-US')} samples each):\n`,
);
console.log(table(['p50', 'p90', 'p99', 'p99.9', 'p99 / p50'], rows));
if (sink === -1) console.log(''); // keeps the task's result alive
