import { readFile, writeFile, copyFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { inspectInput, openInput, repairInput } from '../../src/input/index.js';
import { buildProfiles } from '../../src/input/column-profile.js';
import { proposeMerge } from '../../src/input/propose-repair.js';
import { collect, fixture, tempDir } from './helpers.js';

/** The titles of the source's broken export, as they were written before the export broke them. */
const PIPE_TITLES: Record<number, string> = {
  8: 'PostgreSQL vs MySQL vs SQLite | Which Database Should You Choose?',
  15: 'Terraform vs Pulumi | An Honest Comparison After Two Years',
  20: 'Blue-Green | Canary | Rolling: Deployment Strategies Compared',
  24: 'Redis vs Memcached | When Each One Wins',
};

describe('repair proposals', () => {
  it('merge the unquoted pipes back into the title, whose value equals the original title', async () => {
    const report = await inspectInput(fixture('input/pipe-export-broken.csv'));
    expect(report.problems).toHaveLength(4);
    for (const problem of report.problems) {
      expect(problem.kind).toBe('extra_cells');
      expect(problem.expected).toBe(3);
      expect(problem.repair).toEqual({ column: 'title', value: PIPE_TITLES[problem.line] });
    }
    expect(report.problems[0]).toMatchObject({ line: 8, cells: 4 });
    expect(report.problems[2]).toMatchObject({ line: 20, cells: 5 });
  });

  it('choose the column by cell types and lengths: a slug never holds a sentence, a description is long', () => {
    const good = [
      [
        'Git Bisect: Find the Commit That Broke Everything',
        'git-bisect',
        'Binary search through history to locate a regression in minutes, with scripts that test each commit.',
      ],
      ['Disk Full at 2 AM', 'disk-full-at-2-am', 'Find the largest directories, deleted files still held open and runaway logs, then free space safely.'],
      ['SSH Tips That Save Time Every Day', 'ssh-tips', 'Config file aliases, agent forwarding, jump hosts and multiplexing for faster, safer connections.'],
      [
        'Understanding Load Average on Linux',
        'load-average',
        'Load average is not CPU usage: what the three numbers really measure and when to worry about them.',
      ],
    ];
    const profiles = buildProfiles(good, 3);
    expect(
      proposeMerge(
        ['Kafka ', ' A Queue?', 'kafka-queue', 'Topics and partitions without the hype, and when a simpler queue would serve you better.'],
        profiles,
        '|',
      ),
    ).toMatchObject({
      index: 0,
      value: 'Kafka | A Queue?',
    });
    expect(
      proposeMerge(
        ['Kafka for Engineers', 'kafka', 'Topics, partitions and offsets ', ' when Kafka is right and when a simpler queue is better.'],
        profiles,
        '|',
      ),
    ).toMatchObject({
      index: 2,
      value: 'Topics, partitions and offsets | when Kafka is right and when a simpler queue is better.',
    });
    // Too few sampled rows to trust: no proposal.
    expect(proposeMerge(['a', 'b', 'c', 'd'], buildProfiles(good.slice(0, 2), 3), '|')).toBeUndefined();
  });

  it('propose nothing when no merge makes the row look like the others', async () => {
    const report = await inspectInput(fixture('input/mixed-problems.csv'));
    expect(report.problems.find((p) => p.line === 7)?.repair).toEqual({ column: 'title', value: 'DuckDB,Analytics on Your Laptop' });
    expect(report.problems.find((p) => p.line === 8)?.repair).toBeUndefined();
  });
});

describe('repairInput', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('writes a correctly quoted file that re-inspects clean with the same rows', async () => {
    const input = fixture('input/pipe-export-broken.csv');
    const out = join(dir, 'clean.csv');
    const before = await inspectInput(input);
    const result = await repairInput({ file: input }, out);
    expect(result).toMatchObject({ written: true, rows: 25, repaired: 4, dropped: 0, unrepairable: [] });
    const after = await inspectInput(out);
    expect(after).toMatchObject({ delimiter: '|', header: ['title', 'slug', 'meta_description'], rows: before.rows, problems: [] });
    const repaired = await collect((await openInput({ file: input, onBadRow: 'repair' })).records());
    const clean = await collect((await openInput({ file: out })).records());
    expect(clean.map((r) => r.values)).toEqual(repaired.map((r) => r.values));
    // An independent RFC 4180 reader agrees.
    const rows = parse(await readFile(out), { delimiter: '|', columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r['title'])).toEqual(expect.arrayContaining(Object.values(PIPE_TITLES)));
    expect(rows.find((r) => r['slug'] === 'database-comparison')?.['title']).toBe(PIPE_TITLES[8]);
  });

  it('keeps quotes, delimiters and line breaks inside cells readable', async () => {
    const input = fixture('input/multiline-quoted.csv');
    const out = join(dir, 'clean.csv');
    expect(await repairInput({ file: input }, out)).toMatchObject({ written: true, rows: 5, repaired: 1 });
    const after = await inspectInput(out);
    expect(after).toMatchObject({ rows: 5, problems: [] });
    const values = (await collect((await openInput({ file: out })).records())).map((r) => r.values['title']);
    expect(values).toContain('Load Balancers, Layer 4 vs Layer 7');
  });

  it('refuses to overwrite the input', async () => {
    const input = join(dir, 'posts.csv');
    await copyFile(fixture('input/pipe-export-broken.csv'), input);
    const size = (await stat(input)).size;
    await expect(repairInput({ file: input }, input)).rejects.toMatchObject({ code: 'INPUT_REPAIR_OVERWRITE', exitCode: 2 });
    await expect(repairInput({ file: input }, join(dir, '.', 'posts.csv'))).rejects.toMatchObject({ code: 'INPUT_REPAIR_OVERWRITE' });
    expect((await stat(input)).size).toBe(size);
  });

  it('refuses rows it cannot repair, lists them and writes nothing', async () => {
    const out = join(dir, 'clean.csv');
    const result = await repairInput({ file: fixture('input/mixed-problems.csv') }, out);
    expect(result.written).toBe(false);
    expect(result.unrepairable.map((p) => [p.line, p.kind])).toEqual([
      [4, 'missing_cells'],
      [8, 'extra_cells'],
      [10, 'unterminated_quote'],
    ]);
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('drops blank lines and keeps the header', async () => {
    const input = join(dir, 'blanks.csv');
    await writeFile(input, 'a,b\n1,2\n\n3,4\n,\n');
    const out = join(dir, 'clean.csv');
    expect(await repairInput({ file: input }, out)).toMatchObject({ written: true, rows: 2, repaired: 0, dropped: 2 });
    expect(await readFile(out, 'utf8')).toBe('a,b\n1,2\n3,4\n');
  });
});
