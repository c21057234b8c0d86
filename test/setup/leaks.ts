/**
 * Setup file (vitest.config.ts, every project): a test file fails if it leaks an engine, a server, an emulator, a
 * child process, a watcher or a timer. The baseline is taken when this file is evaluated, before the test file is
 * imported, so whatever the test file starts at import time counts as its own; the check runs after all its tests
 * and afterAll hooks (hooks run as a stack, and this one is registered first).
 */
import { afterAll } from 'vitest';
import { describeHandle, leakMessage, settleLeaks } from './leak-check.js';

/** How long things get to finish closing (sockets after server.close(), a killed child's exit) before it counts. */
const WAIT_MS = 1_000;

type HandleProcess = { _getActiveHandles?: () => unknown[] };
const activeHandles = (): unknown[] => (process as unknown as HandleProcess)._getActiveHandles?.() ?? [];

const before = process.getActiveResourcesInfo();
const handlesBefore = new Set(activeHandles());

// Timeout 0: no hook timer of vitest's own around this check (it polls for at most WAIT_MS).
afterAll(async () => {
  const leaks = await settleLeaks(before, () => process.getActiveResourcesInfo(), WAIT_MS);
  if (leaks.length === 0) return;
  const details = activeHandles()
    .filter((h) => !handlesBefore.has(h))
    .map(describeHandle)
    .filter((d): d is string => d !== undefined);
  throw new Error(leakMessage(leaks, details, WAIT_MS));
}, 0);
