import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs anywhere without privileges (pure code, fixtures, CLI on files);
// `kernel` runs real `ip` commands and must be started inside the lab (scripts/lab), which
// gives it a private network and mount namespace. See README "Tests".
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          environment: 'node',
          // Kernel tests share one lab (network namespace); each file builds its own
          // sandboxes, but files run one at a time so dumps before/after are meaningful.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
