import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { posts, writePostsCsv } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * On the emulator's default config every reply is usable: a large text job finishes with nothing
 * failed. One attempt per item, so a single empty or unusable reply would show as a failure rather
 * than be hidden by a lucky retry.
 */
const tempDir = useTempDir();
const ITEMS = 3000;

describe('no spurious failures on the default emulator config', () => {
  it(`runs ${ITEMS.toLocaleString('en')} text items through the CLI with --emulator: all done, none failed`, { timeout: 180_000 }, async () => {
    const dir = tempDir();
    writePostsCsv(join(dir, 'posts.csv'), posts(ITEMS));
    // No `emulator:` section: the emulator runs on its defaults (seed 42, empty_rate 0, no faults).
    writeFileSync(join(dir, 'credentials.yaml'), 'projects:\n  - { name: only, project: only, location: us-central1, api_key: emulator }\n');
    const job = join(dir, 'job.yaml');
    writeFileSync(
      job,
      `version: 1
name: no-spurious-failures
input: { file: posts.csv, id: slug }
credentials: credentials.yaml
steps:
  - name: intro
    task: text
    model: gemini-2.5-flash
    prompt: "Write a short intro for a post titled {{title}}. {{meta_description}}"
limits: { concurrency: 64, max_attempts: 1 }
results: out/results.csv
`,
    );

    const started = Date.now();
    const run = await runCli(['run', job, '--emulator', '--yes']);
    const seconds = (Date.now() - started) / 1000;
    console.log(`no-spurious-failures: ${ITEMS} text items in ${seconds.toFixed(1)} s`);
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    const status = await runCli(['status', job, '--json']);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as { total: number; counts: Record<string, number>; failures: unknown[] };
    expect(report.total).toBe(ITEMS);
    expect(report.counts).toMatchObject({ done: ITEMS, failed: 0, pending: 0, running: 0, filtered: 0 });
    expect(report.failures).toEqual([]);

    const rows = parse(readFileSync(join(dir, 'out', 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(ITEMS);
    expect(rows.filter((row) => row.intro_state !== 'done' || (row.intro_text ?? '').trim() === '')).toEqual([]);
  });
});
