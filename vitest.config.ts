import { configDefaults, defineConfig } from 'vitest/config';
import { isolatedFiles } from './test/isolated-files.js';

// examples/*.test.ts are examples too (testing-your-app.test.ts: how a user tests an app),
// run here as any test; they import the package by name, from dist/ (npm test builds first).
const include = ['test/**/*.test.ts', 'examples/**/*.test.ts'];
// The heavy adversarial variants (thousands of sockets, fd exhaustion) run
// only under `npm run test:adversarial` (vitest.adversarial.config.ts).
const exclude = [...configDefaults.exclude, 'test/**/*.heavy.test.ts'];

// A RegExp in an expected object matches strings (vitest 4's toMatchObject took it for {}).
const setupFiles = ['test/setup/regexp-matches-string.ts'];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests open real sockets; keep the two cores from fighting over many workers.
    maxWorkers: 2,
    // CI also writes a machine-readable report, summarised by .ci/run.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-output/vitest.json' },
    // The mutation check (npm run test:mutants) runs suites against a mutant runtime, which a
    // setup file swaps in with vi.mock: every file in a registry of its own, as vitest's default.
    ...(process.env.WSSUP_MUTANT
      ? {
          include,
          exclude,
          setupFiles: [...setupFiles, 'test/mutants/apply-mutant.ts'],
        }
      : {
          // Two projects in one pool of maxWorkers: most files share their worker's module
          // registry, so the runtime, xstate and ws are imported once per worker rather than once
          // per file (the import was most of a small file's time, and a quarter of the suite's);
          // the files that mock a module, a global or the timers keep a registry of their own
          // (test/isolated-files.ts says which, and a unit test keeps that list whole). No
          // include at the root: `extends` would add the root's list to each project's.
          setupFiles,
          projects: [
            {
              extends: true,
              test: { name: 'shared', include, exclude: [...exclude, ...isolatedFiles], isolate: false },
            },
            { extends: true, test: { name: 'isolated', include: [...isolatedFiles], isolate: true } },
          ],
        }),
  },
});
