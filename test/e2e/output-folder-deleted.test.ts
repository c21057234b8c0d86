import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls, billedUsd } from '../helpers/billed.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The output folder deleted while a run writes into it (a person cleaning up, a sync tool), or
 * replaced for a moment by a file of the same name. Missing folders are made again; a write that
 * fails keeps the paid reply and retries the write, never the call: every item ends done with its
 * file, the emulator bills one call per item, and the ledger is not below it.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const ITEMS = 20;

async function midRun(
  fault: (notes: string, state: string) => Promise<void>,
): Promise<{ stderr: string; code: number | null; state: string; notes: string; doneBefore: number; job: string }> {
  emulator = await startEmulator(parseEmulatorConfig({ seed: 2, latency_ms: { min: 80, max: 160 } }), { port: 0 });
  const dir = tempDir();
  writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p1' }]);
  const job = writeJob(dir, { items: ITEMS, steps: `${NOTE_STEP}    params: { thinking_budget: 0 }\n`, limits: '{ concurrency: 2, max_attempts: 5 }' });
  const state = join(dir, '.genbatch', 'quota-job.db');
  const notes = join(dir, 'out', 'notes');
  const child = spawnCli(['run', job, '--yes', '--plain']);
  await waitUntil(() => (stepStates(state).done ?? 0) >= 4);
  const doneBefore = stepStates(state).done ?? 0;
  await fault(notes, state);
  const result = await child.output;
  return { stderr: result.stderr, code: result.code, state, notes, doneBefore, job };
}

function check(run: Awaited<ReturnType<typeof midRun>>): void {
  const em = emulator as RunningEmulator;
  expect(run.code, run.stderr).toBe(0);
  expect(stepStates(run.state)).toEqual({ done: ITEMS });
  // One billed call per item: no reply was thrown away and paid again.
  expect(billedCalls(em)).toBe(ITEMS);
  const ledger = readStateFile(run.state, (db) => db.prepare('SELECT coalesce(sum(cost_usd), 0) FROM ledger').pluck().get() as number);
  expect(ledger).toBeGreaterThanOrEqual(billedUsd(em) - 1e-9);
  // Every item done after the fault has its file (those written before went with the folder).
  const files = existsSync(run.notes) ? readdirSync(run.notes).filter((f) => f.endsWith('.txt')) : [];
  expect(files.length).toBeGreaterThanOrEqual(ITEMS - run.doneBefore - 2);
  expect(run.stderr).not.toMatch(/failed: item/);
}

describe('the output folder deleted or replaced mid-run', () => {
  it('deleted: the folder is made again and every later item is written; nothing is paid twice', async () => {
    const run = await midRun(async (notes) => {
      rmSync(join(notes, '..'), { recursive: true, force: true });
    });
    check(run);
    console.log(
      `output folder deleted after ${run.doneBefore} of ${ITEMS}: ${readdirSync(run.notes).length} files written after, ${billedCalls(emulator as RunningEmulator)} billed calls`,
    );
    const again = await runCli(['run', run.job, '--yes', '--plain']);
    expect(again.stderr).toContain('Nothing to do');
    expect(billedCalls(emulator as RunningEmulator)).toBe(ITEMS);
  }, 60_000);

  it('replaced by a file for a moment: the writes fail, the paid replies are kept, and only the writes are retried', async () => {
    const run = await midRun(async (notes, state) => {
      rmSync(notes, { recursive: true, force: true });
      writeFileSync(notes, 'not a folder\n');
      // Until a write has failed on it (the run checkpoints that), not a guessed 0.6 s.
      await waitUntil(
        () => readStateFile(state, (db) => db.prepare("SELECT count(*) FROM item_steps WHERE error_code = 'OUTPUT_WRITE_FAILED'").pluck().get() as number) > 0,
      );
      rmSync(notes, { force: true });
      mkdirSync(notes);
    });
    check(run);
    expect(run.stderr).toMatch(/retry: item "[^"]+" step note on p1 \(OUTPUT_WRITE_FAILED\)/);
    const retried = run.stderr.match(/\(OUTPUT_WRITE_FAILED\)/g)?.length ?? 0;
    console.log(
      `output folder replaced by a file until a write failed: ${retried} write(s) retried from kept replies, ${billedCalls(emulator as RunningEmulator)} billed calls for ${ITEMS} items`,
    );
  }, 60_000);
});
