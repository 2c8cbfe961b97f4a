import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file synthesizes apps (CPU-bound): two workers suit a 2-core machine.
    maxWorkers: 2,
    // aws-cdk-lib takes seconds to import: load it once per worker, not once per file.
    isolate: false,
  },
});
