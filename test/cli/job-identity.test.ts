import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { BRIEF_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Issue 13, point 5: an edit that changes the job's identity. Before: changing `input.id` or
 * renaming a step redid every item, overwrote the same files, and `status` listed orphaned steps.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
}

async function finishedJob(): Promise<{ job: string; calls: number }> {
  emulator = await startEmulator(parseEmulatorConfig({ seed: 2 }), { port: 0 });
  const dir = tempDir();
  writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
  const job = writeJob(dir, { items: 6, steps: BRIEF_STEP, limits: '{ concurrency: 2 }' });
  const first = await runCli(['run', job, '--yes']);
  expect(first.code, first.stderr).toBe(0);
  return { job, calls: billedCalls(emulator) };
}

describe('edits that would redo finished work are caught before any call', () => {
  it('a changed input.id: refused (exit 2) with what would be redone and its cost; --accept-changes does it', async () => {
    const { job, calls } = await finishedJob();
    edit(job, 'id: slug', 'id: title');
    const refused = await runCli(['run', job, '--yes']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/job\.yaml: the job's identity changed since the last run, and nothing was sent/);
    expect(refused.stderr).toMatch(
      /input\.id changed from "slug" to "title": every item gets a new identity, so the 6 item\(s\) finished so far would be done again \(they cost \$\d+\.\d\d\)/,
    );
    expect(refused.stderr).toMatch(/--accept-changes/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(billedCalls(emulator as RunningEmulator)).toBe(calls);

    // Accepted: the 6 items are done again under their new ids, from calls since --no-cache says so
    // (the same requests would otherwise be answered by the response cache, for nothing).
    const accepted = await runCli(['run', job, '--yes', '--accept-changes', '--no-cache']);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(billedCalls(emulator as RunningEmulator)).toBe(calls + 6);
  });

  it('a renamed step: refused with a renamed_from suggestion; with renamed_from the work is kept and nothing is called', async () => {
    const { job, calls } = await finishedJob();
    edit(job, '- name: brief', '- name: summary');
    const refused = await runCli(['run', job, '--yes']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/step\(s\) "brief" with finished work are gone and "summary" new: if a step was renamed, add `renamed_from: brief` to it/);
    expect(billedCalls(emulator as RunningEmulator)).toBe(calls);

    edit(job, '- name: summary\n', '- name: summary\n    renamed_from: brief\n');
    const kept = await runCli(['run', job, '--yes']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toMatch(/Step "brief" is now "summary" \(renamed_from\): its 6 item\(s\) keep their state, 6 of them finished/);
    expect(billedCalls(emulator as RunningEmulator)).toBe(calls);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { steps: Record<string, unknown>; counts: Record<string, number> };
    expect(Object.keys(status.steps)).toEqual(['summary']);
    expect(status.counts.done).toBe(6);
  });
});
