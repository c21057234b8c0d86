import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicWriter, removeTempLeftovers, SyncWritePolicy, tempPathFor, writeFileAtomic } from '../../src/outputs/atomic-write.js';
import { jobWriteFolders } from '../../src/outputs/output-folders.js';
import type { Job } from '../../src/job/job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** A pid no process has (above Linux's largest pid_max). */
const DEAD = 4_194_305;

describe('tempPathFor', () => {
  it('names a hidden temp file beside the target, with this pid, that fits in a file name', () => {
    const temp = tempPathFor('/data/out/images/hero.webp');
    expect(dirname(temp)).toBe('/data/out/images');
    expect(basename(temp)).toMatch(new RegExp(`^\\.hero\\.webp\\.${process.pid}\\.[0-9a-f]{8}\\.tmp$`));
    expect(tempPathFor('/x/a')).not.toBe(tempPathFor('/x/a'));
    const long = `${'é'.repeat(120)}.png`; // 244 bytes: a valid name, too long with a suffix
    expect(Buffer.byteLength(basename(tempPathFor(`/x/${long}`)))).toBeLessThanOrEqual(255);
  });
});

/** A small text output: 2,000 bytes. */
const SMALL = 'x'.repeat(2_000);

describe('SyncWritePolicy', () => {
  it('writes small outputs synchronously while they are quick, large ones never', () => {
    const policy = new SyncWritePolicy();
    for (let i = 0; i < 50; i++) {
      expect(policy.useSync(SMALL)).toBe(true);
      policy.record(0.05);
    }
    expect(policy.useSync(Buffer.alloc(65 * 1024))).toBe(false);
  });

  it('moves to the thread pool when synchronous writes turn slow (network storage), and back when a probe is quick', () => {
    const policy = new SyncWritePolicy();
    let sync = 0;
    for (let i = 0; i < 30 && policy.useSync(SMALL); i++, sync++) policy.record(3);
    // A few slow writes are enough: the event loop is not held for milliseconds per file for long.
    expect(sync).toBeLessThan(10);
    const asked = Array.from({ length: 400 }, () => policy.useSync(SMALL));
    // Now and then one synchronous write probes the file system (slow still: it stays on the pool).
    expect(asked.filter(Boolean).length).toBe(2);
    for (const [i, useSync] of asked.entries()) if (useSync) policy.record(i < 300 ? 3 : 0.05);
    expect(policy.useSync(SMALL)).toBe(true);
  });
});

describe('AtomicWriter', () => {
  it('writes whole files beside their targets, records each folder once, and leaves no temp file', async () => {
    const dir = tempDir();
    const scratch = join(dir, '.genbatch', 'job.tmp');
    const writer = new AtomicWriter(scratch);
    await Promise.all(Array.from({ length: 20 }, (_, i) => writer.write(join(dir, 'out', `g${i % 3}`, `${i}.txt`), `item ${i}`)));
    await writer.writeInPieces(join(dir, 'out', 'all.csv'), async (out) => {
      await out.append('a,b\n');
      await out.append(Buffer.from('1,2\n'));
      await out.writeAt(0, Buffer.from('A'));
    });
    expect(readFileSync(join(dir, 'out', 'g1', '4.txt'), 'utf8')).toBe('item 4');
    expect(readFileSync(join(dir, 'out', 'all.csv'), 'utf8')).toBe('A,b\n1,2\n');
    const recorded = readFileSync(join(scratch, 'output-folders'), 'utf8').trim().split('\n').sort();
    expect(recorded).toEqual([join(dir, 'out'), ...[0, 1, 2].map((g) => join(dir, 'out', `g${g}`))].sort());
    // A second writer (the next pass) knows them already: nothing is appended.
    await new AtomicWriter(scratch).write(join(dir, 'out', 'g0', 'again.txt'), 'x');
    expect(readFileSync(join(scratch, 'output-folders'), 'utf8').trim().split('\n')).toHaveLength(4);
    const all = readdirSync(join(dir, 'out'), { recursive: true }) as string[];
    expect(all.filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('a failed build leaves neither the target nor a temp file', async () => {
    const dir = tempDir();
    const target = join(dir, 'out', 'results.csv');
    const writer = new AtomicWriter(join(dir, 'scratch'));
    await expect(
      writer.writeInPieces(target, async (out) => {
        await out.append('half');
        throw new Error('the state went away');
      }),
    ).rejects.toThrow('the state went away');
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
    await writeFileAtomic(join(dir, 'page', 'review.html'), '<html>');
    expect(readdirSync(join(dir, 'page'))).toEqual(['review.html']);
  });
});

describe('removeTempLeftovers', () => {
  it("removes genbatch's temp files of dead processes and nothing else, without descending into subfolders", () => {
    const dir = tempDir();
    const names = {
      removed: [
        `.hero.png.${DEAD}.0123abcd.tmp`,
        '.results.csv.89abcdef.tmp',
        `.job.db.bak.${DEAD}.00ff00ff.tmp-journal`,
        `.v2.1.png.${process.pid}.abcdef01.tmp`,
      ],
      kept: [
        `.hero.png.${process.ppid}.0123abcd.tmp`,
        'hero.png',
        'notes.tmp',
        '.notes.tmp',
        '.hero.png.12.tmp',
        '.hero.png.0123ABCD.tmp',
        '.hero.png.0123abcd.tmp.bak',
      ],
    };
    for (const name of [...names.removed, ...names.kept]) writeFileSync(join(dir, name), 'x');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', `.deep.png.${DEAD}.0123abcd.tmp`), 'x');
    expect(removeTempLeftovers([dir, dir, join(dir, 'missing')])).toBe(names.removed.length);
    expect(readdirSync(dir).sort()).toEqual([...names.kept, 'sub'].sort());
    expect(existsSync(join(dir, 'sub', `.deep.png.${DEAD}.0123abcd.tmp`))).toBe(true);
  });

  it("lists the job's folders: output folder, static part of output names, results and state folders, and the recorded ones", () => {
    const dir = tempDir();
    const scratch = join(dir, '.genbatch', 'job.tmp');
    mkdirSync(scratch, { recursive: true });
    writeFileSync(join(scratch, 'output-folders'), `${join(dir, 'out', 'photos', 'calm')}\n`);
    const job = {
      outputDir: join(dir, 'out'),
      stateFile: join(dir, '.genbatch', 'job.db'),
      resultsFile: join(dir, 'tables', 'results.csv'),
      steps: [
        { output: { file: 'photos/{{tone}}/{{sku}}.png' } },
        { output: { file: 'vectors/all.jsonl', npy: 'vectors/npy/all.npy' } },
        { output: { file: '{{slug}}.txt' } },
        { output: { file: '../../etc/{{slug}}' } },
        {},
      ],
    } as unknown as Job;
    expect(jobWriteFolders(job, scratch).sort()).toEqual(
      [
        join(dir, 'out'),
        join(dir, '.genbatch'),
        join(dir, 'tables'),
        join(dir, 'out', 'photos'),
        join(dir, 'out', 'vectors'),
        join(dir, 'out', 'vectors', 'npy'),
        join(dir, 'out', 'photos', 'calm'),
      ].sort(),
    );
  });
});
