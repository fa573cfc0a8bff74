import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs anywhere without privileges (pure code, fixtures, CLI on files);
// `kernel` runs real `ip` commands and must be started inside the lab (scripts/lab), which
// gives it a private network and mount namespace. See README "Tests".
export default defineConfig({
  test: {
    // Every core (vitest leaves one idle by default: on CI's two cores the unit tests ran on one).
    maxWorkers: availableParallelism(),
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
          // Unit files share their workers' module cache instead of importing everything again
          // per file: a third of the time. They keep no module state between files (no mocks of
          // modules, no globals); a file that needs its own must say so with its own project.
          isolate: false,
          // A few files start the CLI as a process; on a loaded machine that alone can take
          // seconds. The limit only stops a hung test, it measures nothing.
          testTimeout: 30_000,
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
