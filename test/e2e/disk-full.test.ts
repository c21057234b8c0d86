import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { billedCalls } from '../helpers/billed.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { canMount, mountTmpfs, unmount } from '../helpers/mounts.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * Issue 13, point 3: a full disk for the outputs. Before: every step failed as OUTPUT_WRITE_FAILED
 * while the run kept calling (17 paid replies thrown away), and after space was freed `resume` did
 * nothing and `retry --failed` paid for everything again.
 */
const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
let mounted: string | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
  if (mounted) unmount(mounted);
  mounted = undefined;
});

const NOTE_STEP = `  - name: note
    task: text
    model: gemini-2.5-flash
    prompt: "A long note about {{title}}"
    max_output_tokens: 2000
    output: { file: "notes/{{slug}}.txt" }
`;

describe.skipIf(!canMount)('the disk for outputs fills up (a real 1 MB tmpfs)', () => {
  it('stops taking calls at the first ENOSPC (exit 75), keeps the paid replies, and the resume writes them without paying again', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ seed: 8, latency_ms: { min: 20, max: 40 } }), { port: 0 });
    const dir = tempDir();
    mounted = mountTmpfs('1m');
    // Leave room for a few notes only.
    const filler = join(mounted, 'filler.bin');
    writeFileSync(filler, Buffer.alloc(1024 * 1024 - 24 * 1024));
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'a' }]);
    const items = 60;
    const concurrency = 4;
    const job = writeJob(dir, { items, steps: NOTE_STEP, limits: `{ concurrency: ${concurrency} }`, extra: `output_dir: ${mounted}/out\n` });

    const full = await runCli(['run', job, '--yes']);
    expect(full.code, full.stderr).toBe(75);
    expect(full.stderr).toMatch(/The disk is full: could not write .*\(ENOSPC\)\. genbatch stopped taking new calls\./);
    expect(full.stderr).toMatch(/hint: Free space on that disk, then `genbatch resume JOB`: the replies already paid for are kept in .*quota-job\.held/);
    const paidFirst = billedCalls(emulator);
    const written = readdirSync(join(mounted, 'out', 'notes')).filter((f) => statSync(join(mounted as string, 'out', 'notes', f)).size > 0).length;
    // No run of paid replies thrown away: at most the calls in flight at the first failure went on.
    expect(paidFirst).toBeLessThanOrEqual(written + 2 * concurrency);
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> };
    expect(status.counts.failed).toBe(0);
    expect(status.counts.done).toBe(written);

    // Space freed: the resume writes the kept replies first, then calls only for what was never paid.
    rmSync(filler);
    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readdirSync(join(mounted, 'out', 'notes'))).toHaveLength(items);
    console.log(
      `disk full: ${paidFirst} calls before the stop, ${written} notes written; the resume made ${billedCalls(emulator) - paidFirst} calls for ${items - written} notes`,
    );
    expect(billedCalls(emulator)).toBe(items);
    expect(existsSync(join(dir, '.genbatch', 'quota-job.held')) && readdirSync(join(dir, '.genbatch', 'quota-job.held')).length).toBeFalsy();
  });
});
