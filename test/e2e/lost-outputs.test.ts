import { existsSync, readdirSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('outputs lost by a machine crash', () => {
  it('a resume after a run that died redoes the done steps whose file is missing or empty, and only those', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 40 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, { items: 30, steps: NOTE_STEP, limits: '{ concurrency: 4 }' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(stateFile).done ?? 0) >= 10);
    child.kill('SIGKILL');
    await child.output;

    // What an operating-system crash can leave: files the state calls done, missing or empty
    // (there is no fsync per output file). Simulated on two of them.
    const notes = join(dir, 'out', 'notes');
    const written = readdirSync(notes).sort();
    expect(written.length).toBeGreaterThanOrEqual(10);
    // Two whose steps are done (a file can also belong to a call that was in flight at the kill).
    const doneIds = readStateFile(
      stateFile,
      (db) => db.prepare("SELECT item_id FROM item_steps WHERE state = 'done' ORDER BY item_id").pluck().all() as string[],
    );
    const [lost, emptied] = written.filter((name) => doneIds.includes(name.replace(/\.txt$/, ''))) as [string, string];
    unlinkSync(join(notes, lost));
    truncateSync(join(notes, emptied), 0);
    const callsBefore = emulator.log().length;

    // --no-cache: the response cache may hold the two lost answers (if its last batch was written
    // before the kill) and would redo them for free; here every redo is counted as a call.
    const resumed = await runCli(['resume', job, '--yes', '--no-cache']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/Redoing 2 step\(s\) whose output file is missing or empty after the last run ended abruptly/);
    expect(stepStates(stateFile)).toEqual({ done: 30 });
    for (const name of [lost, emptied]) {
      expect(existsSync(join(notes, name))).toBe(true);
      expect(statSync(join(notes, name)).size).toBeGreaterThan(0);
    }
    expect(readdirSync(notes)).toHaveLength(30);
    // The resume paid for the items left, the two lost outputs and at most the 4 calls in flight at the kill.
    const resumeCalls = emulator.log().length - callsBefore;
    const doneBeforeResume = written.length - 2;
    expect(resumeCalls).toBeGreaterThanOrEqual(30 - doneBeforeResume);
    expect(resumeCalls).toBeLessThanOrEqual(30 - doneBeforeResume + 4);

    // A clean run leaves nothing to check: a missing file after it is the person's doing, not redone.
    unlinkSync(join(notes, lost));
    const again = await runCli(['resume', job, '--yes']);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/Redoing/);
  });
});
