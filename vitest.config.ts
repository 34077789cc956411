import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // examples/*.test.ts are examples too (testing-your-app.test.ts: how a user tests an app),
    // run here as any test; they import the package by name, from dist/ (npm test builds first).
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    // The heavy adversarial variants (thousands of sockets, fd exhaustion) run
    // only under `npm run test:adversarial` (vitest.adversarial.config.ts).
    exclude: [...configDefaults.exclude, 'test/**/*.heavy.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests open real sockets; keep the two cores from fighting over many workers.
    maxWorkers: 2,
    // CI also writes a machine-readable report, summarised by .ci/run.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-output/vitest.json' },
    // The mutation check (npm run test:mutants) runs suites against a mutant runtime.
    setupFiles: process.env.WSSUP_MUTANT ? ['test/mutants/apply-mutant.ts'] : [],
  },
});
