/**
 * The mutation check: does the net catch a missing transition?
 *
 * For each transition of the connection machine that leads toward
 * `disposed`, each transition of the user supervisor (it keeps the slot
 * books: a missing transition there leaks a slot or breaks the limit), and
 * each transition of the lease (cluster mode: a missing one stops renewing,
 * reaping or reconciling), run the suites that must notice against a runtime
 * whose machine lacks that one transition (WSSUP_MUTANT, see apply-mutant.ts),
 * and record which suites failed. A mutant that no suite notices is a hole in
 * the net, and fails this check.
 *
 *   npm run test:mutants   # prints the table, writes test-output/mutants.md
 *   WSSUP_MUTANTS_OF=lease npm run test:mutants   # one machine's mutants only
 *
 * And the client's semantic mutants (its silence watch, its close handshake), and its
 * transitions on the device's `offline` (and on its `online` while connecting), the silence watch's start
 * (its own timeout, or the server's heartbeat offer), on a send after a sleep (and the silence
 * check's second look, `confirming`), on resume() while waiting
 * on the app's close() of an open socket (`closing`) and its giving up after maxAttempts, removed, against the client's walk
 * and its tests.
 *
 * And every transition of the close refusal (`refuse: 'close'`), removed, against
 * its walk, its machine's tests and the runtime's; and every transition of the
 * store watchdog (the deadlines of the store's calls), and its period doubled,
 * against its walk and the deadlines' tests; and every transition of the
 * dashboard feed's clock, and its batch window read from the poll interval,
 * against its walk, its machine's tests and the dashboard stream's.
 *
 * WSSUP_MUTANTS_OF (`connection`, `userSupervisor`, `lease`, `client`, `refusal`,
 * `storeWatchdog` or `dashboardFeed`; comma-separated
 * for several) keeps the run to those machines' mutants and their suites: the
 * whole run takes 20 minutes and more, one machine's a few.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { clientMachine } from '../../machines/client.machine.js';
import { connectionMachine } from '../../machines/connection.machine.js';
import { dashboardFeedMachine } from '../../machines/dashboard-feed.machine.js';
import { leaseMachine } from '../../machines/lease.machine.js';
import { refusalMachine } from '../../machines/refusal.machine.js';
import { storeWatchdogMachine } from '../../machines/store-watchdog.machine.js';
import { userSupervisorMachine } from '../../machines/user-supervisor.machine.js';
import { allTransitions, type TransitionInfo } from '../model/transitions.js';
import {
  clientSemanticMutants,
  dashboardFeedSemanticMutants,
  leaseSemanticMutants,
  mutatedMachine,
  semanticMutants,
  storeWatchdogSemanticMutants,
  supervisorSemanticMutants,
} from './semantic-mutants.js';

const suites = {
  'model-based': 'test/model-based',
  property: 'test/property',
  machine: 'test/machines/connection.machine.test.ts',
  'supervisor machine': 'test/machines/user-supervisor.machine.test.ts',
  'lease machine': 'test/machines/lease.machine.test.ts',
  // The lease walked path by path against the real runtime on a scripted store.
  'lease model-based': 'test/model-based/lease.model.test.ts',
  // The lease as the cluster runtime drives it (a memory book, simulated time): renewals,
  // lost leases, outages and their reconciliation.
  'cluster runtime': 'test/cluster/runtime.test.ts',
  'client model-based': 'test/model-based/client.model.test.ts',
  // The client machine's own tests and the runtime's on real sockets (silence.test.ts among them).
  client: 'test/client',
  // The close refusal (`refuse: 'close'`) walked path by path on real sockets, its machine's
  // own tests, and the runtime's on real sockets.
  'refusal model-based': 'test/model-based/refusal.model.test.ts',
  'refusal machine': 'test/machines/refusal.machine.test.ts',
  'close refusal': 'test/integration/close-refusal.test.ts',
  // The store watchdog walked path by path against the real Deadlines (simulated time), and
  // the deadlines' own tests: the Redis store's and a custom store's.
  'store watchdog model-based': 'test/model-based/store-watchdog.model.test.ts',
  deadlines: 'test/cluster/deadlines.test.ts',
  'custom store deadlines': 'test/cluster/custom-store-deadlines.test.ts',
  // The dashboard feed walked path by path against the real DashboardFeed on real HTTP
  // streams, its machine's own tests, and the reference server's dashboard stream.
  'dashboard feed model-based': 'test/model-based/dashboard-feed.model.test.ts',
  'dashboard feed machine': 'test/machines/dashboard-feed.machine.test.ts',
  'dashboard events': 'test/examples/dashboard-events.test.ts',
} as const;
type Suite = keyof typeof suites;
type Machine = ReturnType<typeof mutatedMachine>;

/** The suites run against a machine's mutants: the walks, the properties, and its own machine's. */
const suitesOf: Record<Machine, Suite[]> = {
  connection: ['model-based', 'property', 'machine'],
  userSupervisor: ['model-based', 'property', 'supervisor machine'],
  lease: ['lease model-based', 'lease machine', 'cluster runtime'],
  client: ['client model-based', 'client'],
  refusal: ['refusal model-based', 'refusal machine', 'close refusal'],
  storeWatchdog: ['store watchdog model-based', 'deadlines', 'custom store deadlines'],
  dashboardFeed: ['dashboard feed model-based', 'dashboard feed machine', 'dashboard events'],
};

/** The machines this run mutates: all, or those named in WSSUP_MUTANTS_OF. */
const machines: Machine[] = (() => {
  const all = Object.keys(suitesOf) as Machine[];
  const named = (process.env.WSSUP_MUTANTS_OF ?? '').split(',').map((name) => name.trim());
  if (named.every((name) => name === '')) return all;
  const unknown = named.filter((name) => !all.includes(name as Machine));
  if (unknown.length > 0)
    throw new Error(`WSSUP_MUTANTS_OF: no machine ${unknown.join(', ')} (${all.join(', ')})`);
  return named as Machine[];
})();

/** The suites run against a mutant, or (undefined) against the real machines: those of every machine run. */
const suitesFor = (mutant: string | undefined): Suite[] =>
  mutant === undefined
    ? [...new Set(machines.flatMap((machine) => suitesOf[machine]))]
    : suitesOf[mutatedMachine(mutant)];

/** Leaves toward `disposed`: into `draining` or `disposed`, or into the waits that end there. */
const leadsTowardDisposed = (t: TransitionInfo) =>
  t.targets.some((target) => target === 'connection.draining' || target === 'connection.disposed') ||
  t.event === 'after idleTimeout' ||
  t.event === 'after heartbeatInterval';

/**
 * How long one suite may run against a mutant. A mutant can make a suite loop
 * forever without yielding (renewals back to back on a memory book resolve in
 * microtasks, where no test timeout fires): such a suite never passes, so it
 * counts as failing, marked "hung".
 */
const SUITE_TIMEOUT_MS = 5 * 60_000;

/** A suite's outcome: passed, failed (the mutant is noticed), or hung (killed at the timeout). */
type Outcome = 'passed' | 'failed' | 'hung';

/** Runs one suite, stopping at its first failure (a caught mutant needs no more). */
async function runSuite(suite: Suite, mutant: string | undefined): Promise<Outcome> {
  const report = join(tmpdir(), `ws-supervisor-mutant-${process.pid}.json`);
  rmSync(report, { force: true });
  // A process group of its own, so that a hung run goes with its vitest workers:
  // killing vitest alone would leave a worker spinning with no parent.
  const child = spawn(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      suites[suite],
      '--bail=1',
      '--reporter=json',
      `--outputFile=${report}`,
    ],
    { env: { ...process.env, CI: '', WSSUP_MUTANT: mutant ?? '' }, stdio: 'ignore', detached: true },
  );
  const killGroup = () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  };
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    killGroup();
  }, SUITE_TIMEOUT_MS);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  killGroup(); // a worker that outlived its vitest, if any
  if (hung) return 'hung';
  const json = JSON.parse(readFileSync(report, 'utf8')) as { numFailedTests: number; numTotalTests: number };
  if (json.numTotalTests === 0) throw new Error(`suite ${suites[suite]} ran no test`);
  return json.numFailedTests > 0 || code !== 0 ? 'failed' : 'passed';
}

/** The suites that fail (or hang) against `mutant`, hung ones marked; none for the real machine. */
async function failingSuites(mutant: string | undefined): Promise<string[]> {
  const failing: string[] = [];
  for (const suite of suitesFor(mutant)) {
    const outcome = await runSuite(suite, mutant);
    if (outcome === 'failed') failing.push(suite);
    if (outcome === 'hung') failing.push(`${suite} (hung)`);
  }
  return failing;
}

it('every mutant of the machines named (a transition removed, or a rule broken) is caught', async () => {
  expect(await failingSuites(undefined), 'the suites must pass on the real machine first').toEqual([]);

  const mutants = [
    ...allTransitions(connectionMachine)
      .filter(leadsTowardDisposed)
      .map((t) => t.key),
    ...Object.keys(semanticMutants),
    ...allTransitions(userSupervisorMachine).map((t) => t.key),
    ...Object.keys(supervisorSemanticMutants),
    ...allTransitions(leaseMachine).map((t) => t.key),
    ...Object.keys(leaseSemanticMutants),
    ...Object.keys(clientSemanticMutants),
    ...allTransitions(clientMachine)
      .filter(
        (t) =>
          t.event === 'NETWORK_OFFLINE' ||
          // `online` while connecting: on `connection`, guarded by mayRestart (once, as the cut of a
          // wait: mayCutWait, below).
          (t.event === 'NETWORK_ONLINE' && t.guard === 'mayRestart') ||
          (t.event === 'NETWORK_ONLINE' && t.guard === 'mayCutWait') ||
          t.event === 'CHECK_SILENCE' ||
          // The watch's start: at the open with a timeout of the client's own, or from the
          // server's heartbeat offer (SILENCE_OFFERED) for a client that asked.
          t.source === 'client.connection.open.unwatched' ||
          // The silence check's second look, a turn later: given up, or kept (heard meanwhile).
          t.source === 'client.connection.open.confirming' ||
          (t.event === 'RESUME' && t.source === 'client.waiting') ||
          // The app's reconnect() while connecting or open: the socket left for a fresh attempt.
          t.event === 'RECONNECT' ||
          // maxAttempts: the failure that gives up instead of backing off.
          t.guard === 'isLastAttempt' ||
          // The app's close() on an open socket: its bounded close handshake.
          (t.event === 'CLOSE' && t.source === 'client.connection.open') ||
          t.source === 'client.connection.closing',
      )
      .map((t) => t.key),
    ...allTransitions(refusalMachine).map((t) => t.key),
    ...allTransitions(storeWatchdogMachine).map((t) => t.key),
    ...Object.keys(storeWatchdogSemanticMutants),
    ...allTransitions(dashboardFeedMachine).map((t) => t.key),
    ...Object.keys(dashboardFeedSemanticMutants),
  ].filter((mutant) => machines.includes(mutatedMachine(mutant)));
  const rows: { mutant: string; failedSuites: string[] }[] = [];
  for (const mutant of mutants) {
    const failedSuites = await failingSuites(mutant);
    console.log(`${failedSuites.length > 0 ? 'caught' : 'MISSED'}  ${mutant}  (${failedSuites.join(', ')})`);
    rows.push({ mutant, failedSuites });
  }

  const table = [
    '| Mutant (transition removed, or rule broken) | Caught by |',
    '| --- | --- |',
    ...rows.map(
      (row) =>
        `| \`${row.mutant}\` | ${row.failedSuites.length > 0 ? row.failedSuites.join(', ') : '**missed**'} |`,
    ),
  ].join('\n');
  mkdirSync('test-output', { recursive: true });
  writeFileSync('test-output/mutants.md', `${table}\n`);
  console.log(
    `\n${table}\n\n${rows.filter((r) => r.failedSuites.length > 0).length} of ${rows.length} caught`,
  );
  expect(rows.filter((row) => row.failedSuites.length === 0).map((row) => row.mutant)).toEqual([]);
});
