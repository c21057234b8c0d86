import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * Runs of one user meet in a shared folder (src/coordination/shared-dir.ts): cooldowns, daily
 * request counts, learned limits, shared budgets. Tests must not meet there, nor with the user's or
 * another session's runs on the same host: a test that left project "p1" cooling down, or out for
 * the day, would change what the next test's run does with its own "p1". Each test file gets its own
 * folder (the runs one test spawns still share it, as runs on one host do), removed after it. A test
 * that shows sharing across folders sets GENBATCH_SHARED_DIR itself.
 */
const dir = mkdtempSync(join(tmpdir(), 'genbatch-shared-'));
process.env.GENBATCH_SHARED_DIR = dir;
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
