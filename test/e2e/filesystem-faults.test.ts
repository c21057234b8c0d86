import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { NOTE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { canMount, mountTmpfs, unmountTmpfs } from '../helpers/mounts.js';
import { readStateFile, stepStates } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}

const EMBED_STEP = `  - name: embed
    task: embedding
    model: text-embedding-005
    prompt: "{{title}}"
    params: { output_dimensionality: 8 }
    output: { file: vectors/all.jsonl, npy: vectors/all.npy }
`;

describe.skipIf(!canMount)('outputs and results on another file system (a real tmpfs mount)', () => {
  let other: string;
  beforeAll(() => {
    other = mountTmpfs('64m');
  });
  afterAll(() => unmountTmpfs(other));

  it('every file is written (outputs, embeddings and .npy, results, review page), a run with nothing to do exits 0, and no temp file is left', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 5 }), { port: 0 });
    const dir = tempDir();
    const outputDir = join(other, 'out');
    const results = join(other, 'tables', 'results.csv');
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, {
      items: 12,
      steps: NOTE_STEP + EMBED_STEP,
      limits: '{ concurrency: 4 }',
      extra: `output_dir: ${outputDir}\nresults: ${results}\n`,
    });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');

    const first = await runCli(['run', job, '--yes']);
    expect(first.stderr).not.toMatch(/EXDEV|crashed|\n\s+at /);
    expect(first.code).toBe(0);
    expect(stepStates(stateFile)).toEqual({ done: 24 });
    const rows = parse(readFileSync(results), { columns: true }) as { id: string; note_state: string; note_file: string }[];
    expect(rows).toHaveLength(12);
    expect(rows.every((r) => r.note_state === 'done' && existsSync(join(outputDir, r.note_file)))).toBe(true);
    expect(
      readFileSync(join(outputDir, 'vectors', 'all.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(12);
    expect(
      readFileSync(join(outputDir, 'vectors', 'all.npy'))
        .subarray(0, 6)
        .toString('latin1'),
    ).toBe('\x93NUMPY');

    // "Nothing to do" rewrites the results (and embeddings) too: it used to crash on every run.
    const calls = emulator.log().length;
    const again = await runCli(['run', job, '--yes']);
    expect(again.stderr).toMatch(/Nothing to do/);
    expect(again.stderr).not.toMatch(/EXDEV|crashed|\n\s+at /);
    expect(again.code).toBe(0);
    expect(emulator.log().length).toBe(calls);
    // The run row got its outcome.
    const last = readStateFile(stateFile, (db) => db.prepare('SELECT outcome, exit_code FROM runs ORDER BY started_at DESC LIMIT 1').get());
    expect(last).toEqual({ outcome: 'finished', exit_code: 0 });

    const review = await runCli(['review', job, '--out', join(other, 'pages', 'review.html')]);
    expect(review.code).toBe(0);
    expect(readFileSync(join(other, 'pages', 'review.html'), 'utf8')).toMatch(/<html/i);

    // Temp files lived beside their targets for a moment each, and none is left on either file system.
    const everything = [...filesUnder(other), ...filesUnder(dir)];
    expect(everything.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(filesUnder(join(outputDir, 'notes'))).toHaveLength(12);
  });
});

describe('temp files left by a run killed mid-write', () => {
  it('the next run removes genbatch temp files from the folders it writes into, and nothing else', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 40 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    // One folder per item: found through the record of the folders written into, not by walking the tree.
    const step = NOTE_STEP.replace('notes/{{slug}}.txt', 'notes/{{slug}}/note.txt');
    const job = writeJob(dir, { items: 30, steps: step, limits: '{ concurrency: 4 }', extra: 'results: out/results.csv\n' });
    const stateFile = join(dir, '.genbatch', 'quota-job.db');
    const child = spawnCli(['run', job, '--yes']);
    await waitUntil(() => (stepStates(stateFile).done ?? 0) >= 8);
    child.kill('SIGKILL');
    await child.output;

    // What `kill -9` in the middle of writes leaves: temp files named by the dead process (its pid),
    // and `.name.<hex>.tmp` from the cross-file-system copy of earlier versions.
    const out = join(dir, 'out');
    const [first, second] = readdirSync(join(out, 'notes')).sort() as [string, string];
    const dead = child.pid as number;
    const leftovers = [
      join(out, 'notes', first, `.note.txt.${dead}.0a1b2c3d.tmp`),
      join(out, 'notes', second, `.note.txt.${dead}.deadbeef.tmp`),
      join(out, `.results.csv.${dead}.12345678.tmp`),
      join(out, '.results.csv.9f8e7d6c.tmp'),
    ];
    // Not genbatch's to remove: a live process's temp file (another job writing into the same folder),
    // files of the person's that merely look alike, and a folder genbatch never wrote into.
    const kept = [
      join(out, 'notes', first, `.note.txt.${process.pid}.cafebabe.tmp`),
      join(out, 'notes', first, 'draft.tmp'),
      join(out, '.notes.tmp'),
      join(out, 'notes', second, '.note.txt.tmp'),
      join(out, 'archive', 'old', `.note.txt.${dead}.0a1b2c3d.tmp`),
    ];
    for (const file of [...leftovers, ...kept]) {
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, 'partial');
    }

    const resumed = await runCli(['resume', job, '--yes']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/Removed \d+ temp file\(s\) that the last run, ended abruptly, left among the outputs/);
    for (const file of leftovers) expect(existsSync(file), file).toBe(false);
    for (const file of kept) expect(existsSync(file), file).toBe(true);
    // Whatever the kill itself left (a write in flight) is gone too: only the kept files end in .tmp.
    const remaining = filesUnder(out).filter((f) => f.endsWith('.tmp'));
    expect(remaining.map((f) => join(out, f)).sort()).toEqual([...kept].sort());
    expect(stepStates(stateFile)).toEqual({ done: 30 });
    expect(filesUnder(join(out, 'notes')).filter((f) => f.endsWith('note.txt'))).toHaveLength(30);
  });
});
