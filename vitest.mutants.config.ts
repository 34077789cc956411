import { defineConfig } from 'vitest/config';

// npm run test:mutants: one "test" that runs the suites once per mutant.
export default defineConfig({
  test: {
    include: ['test/mutants/mutants.run.ts'],
    testTimeout: 30 * 60_000,
  },
});
