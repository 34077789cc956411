/**
 * The test files that must run in a module registry, and a process, of their own (vitest's
 * `isolate`): they replace a module (`vi.mock`), a global or the environment (`vi.stubGlobal`,
 * `vi.stubEnv`), the timers (`vi.useFakeTimers`) or an export's method (`vi.spyOn`), which in a
 * shared registry would reach the next file the same worker runs; or they count the process's
 * timers and handles (`process.getActiveResourcesInfo()`, async hooks, test/helpers/resources.ts),
 * which in a shared worker would count what an earlier file left closing as theirs; or they set V8's
 * flags (`v8.setFlagsFromString`, a forced-GC test's `--expose_gc`), for the whole process. Every other file shares its worker's registry
 * (vitest.config.ts), so that xstate, ws and the runtime are imported once per worker instead of
 * once per file: most of a small file's time was that import.
 *
 * test/unit/isolated-files.test.ts fails when a file that does any of that is missing here.
 */
export const isolatedFiles = [
  'examples/testing-your-app.test.ts',
  'test/client/closed.test.ts',
  'test/client/instance.test.ts',
  'test/client/options.test.ts',
  'test/client/same-instance-same-ms.test.ts',
  'test/client/send-after-sleep.test.ts',
  'test/client/silence.test.ts',
  'test/cluster/readmit-at-scale.test.ts',
  'test/integration/no-xstate-dev-warnings.test.ts',
  'test/cluster/idle-edges-at-scale.test.ts',
  'test/cluster/runtime.test.ts',
  'test/cluster/shutdown-resources.test.ts',
  'test/cluster/shutdown-release-summary.test.ts',
  'test/cluster/store-doc-breaker.test.ts',
  'test/cluster/store-redis-tls.test.ts',
  'test/cluster/store.test.ts',
  'test/examples/dashboard-events.test.ts',
  'test/charts/cli.test.ts',
  'test/browser/dashboard-missing-elkjs.test.ts',
  'test/examples/dashboard-missing-elkjs.test.ts',
  'test/examples/readme-claims-dashboard.test.ts',
  'test/examples/reference-command-line.test.ts',
  'test/unit/duration-units-console.test.ts',
  // Calls none of them: its expected messages name vi.useFakeTimers(), which the scan cannot tell from a call.
  'test/unit/duration-units.test.ts',
  'test/examples/process-exit.test.ts',
  'test/examples/stop-signals-window.test.ts',
  'test/examples/reference-flags.test.ts',
  'test/examples/reference-http.test.ts',
  'test/examples/reference-short-token.test.ts',
  'test/integration/authenticate-signal.test.ts',
  'test/integration/bad-input.test.ts',
  'test/integration/fake-timers.test.ts',
  'test/integration/idle-storm.test.ts',
  'test/integration/readme-claims-options-and-app-data.test.ts',
  'test/integration/resources.test.ts',
  'test/integration/send-edges-fake-timers.test.ts',
  'test/integration/shutdown-clock-jump.test.ts',
  'test/integration/shutdown-gc.test.ts',
  'test/integration/supervisor-failure.test.ts',
  'test/machines/user-supervisor.machine.test.ts',
  'test/model-based/lease.model.test.ts',
  'test/testing/serve-for-test-isolated.test.ts',
  'test/unit/instance-id-retention.test.ts',
  'test/unit/cluster-book-idle-orders.test.ts',
  'test/unit/cluster-node-id-default.test.ts',
  'test/unit/options.test.ts',
  'test/unit/store-breaker-moved.test.ts',
] as const;
