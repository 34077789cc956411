import { defineConfig } from 'vitest/config';

// npm run test:mutants: one "test" that runs the suites once per mutant.
export default defineConfig({
  test: {
    include: ['test/mutants/mutants.run.ts'],
    // 20–30 minutes on two shared cores, more when a mutant hangs a suite (5 min each).
    testTimeout: 90 * 60_000,
  },
});
