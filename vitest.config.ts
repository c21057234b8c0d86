import { configDefaults, defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/setup/slow-first.js';

/**
 * End-to-end tests: they spawn the CLI (bin/genbatch.js, which runs the JavaScript compiled into dist/) as a child
 * process, drive headless Chromium, or run whole jobs against the emulator. Everything else under test/ is a unit test: in-process, and quick.
 * `npm run test:unit` / `npm run test:e2e` run one project; `vitest run` runs both.
 */
const E2E = [
  'test/e2e/**/*.test.ts',
  // Every file spawns the CLI (most against an emulator on a port).
  'test/cli/**/*.test.ts',
  // Whole runs through the CLI against emulators with quotas, faults and hot-swapped credentials.
  'test/quota/**/*.test.ts',
  // One CLI run per task kind (test/tasks/task-job.ts spawns the CLI against an emulator).
  'test/tasks/**/*.test.ts',
  // Budget caps and `genbatch cost` over CLI runs.
  'test/cost/**/*.test.ts',
  // `genbatch run`/`review`/`reject` through the CLI, and the review page in headless Chromium.
  'test/review/review.test.ts',
  // Batch output fixtures collected by the CLI against an emulator.
  'test/contract/batch-output.test.ts',
  // Quality gates (issue 28): regenerate, review, fail and resume through the CLI against an emulator.
  'test/quality/**/*-e2e.test.ts',
];

/**
 * Unit files that need a process of their own: they keep state in modules that an earlier file in the
 * same process would have loaded already (a module-level timer and clock offset in
 * src/coordination/bottleneck-clock.ts under fake timers; read counters in fast resume; the fuzz
 * test's time bounds).
 */
const OWN_PROCESS = ['test/coordination/bottleneck-clock.test.ts', 'test/engine/fast-resume.test.ts', 'test/input/fuzz.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default on this 2-core machine is one worker; most end-to-end files wait on emulator
    // latency and quota windows rather than the CPU, so three overlap well (npm test stays under 10 min).
    maxWorkers: 3,
    // A test file fails if it leaves a server, socket, child process, watcher or timer running.
    // Each test gets its own response cache folder (test/setup/cache-dir.ts), each file its own shared folder (test/setup/shared-dir.ts).
    setupFiles: ['test/setup/leaks.ts', 'test/setup/cache-dir.ts', 'test/setup/shared-dir.ts'],
    // Compiles src/ into dist/ first (incremental): the CLI the tests spawn, bin/genbatch.js, runs dist/.
    globalSetup: ['test/setup/build.ts'],
    // The longest files first (test/setup/slow-first.ts): a clean clone has no cached durations to order by.
    sequence: { sequencer: SlowFirstSequencer },
    projects: [
      {
        extends: true,
        // One worker process runs many files in turn (isolate: false): starting a fresh process and vitest
        // in it for each file took about half of the unit tests' CPU time, a quarter of the e2e tests'.
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...E2E, ...OWN_PROCESS], isolate: false },
      },
      {
        extends: true,
        test: { name: 'unit-isolated', include: OWN_PROCESS },
      },
      {
        extends: true,
        // Shared worker processes here too: the files drive child processes and emulators of their own.
        test: { name: 'e2e', include: E2E, isolate: false },
      },
    ],
  },
});
