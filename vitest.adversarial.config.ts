import { defineConfig } from 'vitest/config';

// npm run test:adversarial: the whole adversarial suite, light and heavy
// (test/adversarial/*.heavy.test.ts, excluded from the default run). One file
// at a time: the heavy ones use thousands of sockets each.
export default defineConfig({
  test: {
    include: ['test/adversarial/**/*.test.ts'],
    setupFiles: ['test/setup/regexp-matches-string.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
