import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { useTaskJobs } from './task-job.js';

const taskJob = useTaskJobs();

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

/** Reads a float32 .npy file (v1.0, C order) into its shape and rows. */
function readNpy(file: string): { shape: number[]; rows: number[][] } {
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  expect((10 + headerLength) % 64).toBe(0);
  expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(\d+, \d+\), \} *\n$/);
  const shape = [...(/\((\d+), (\d+)\)/.exec(header) ?? [])].slice(1).map(Number);
  const [n = 0, d = 0] = shape;
  const body = bytes.subarray(10 + headerLength);
  expect(body.length).toBe(n * d * 4);
  const rows = Array.from({ length: n }, (_, i) => Array.from({ length: d }, (_, j) => body.readFloatLE((i * d + j) * 4)));
  return { shape, rows };
}

const STEP = (extra = '') => `  - name: embed
    task: embedding
    model: text-embedding-005
    prompt: "{{title}}. {{meta_description}}"
    batch_size: 5
${extra}    output: { file: "embeddings/posts.jsonl", npy: "embeddings/posts.npy" }
`;

describe('task: embedding (text-embedding-005)', () => {
  it('writes JSON Lines {id, vector} in input order and the same vectors as an (n, d) float32 .npy', async () => {
    const t = await taskJob({ items: 12, steps: STEP(), extra: 'results: out/results.csv\n' });
    const run = await t.run();
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    const lines = readFileSync(t.out('embeddings', 'posts.jsonl'), 'utf8').trimEnd().split('\n');
    const records = lines.map((l) => JSON.parse(l) as { id: string; vector: number[] });
    const ids = (parse(readFileSync(`${t.dir}/input.csv`), { columns: true }) as { slug: string }[]).map((r) => r.slug);
    expect(records.map((r) => r.id)).toEqual(ids);
    for (const { vector } of records) {
      expect(vector).toHaveLength(768);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 3);
    }
    expect(new Set(records.map((r) => r.vector.slice(0, 4).join())).size).toBe(12); // one vector per text, not a copy

    const npy = readNpy(t.out('embeddings', 'posts.npy'));
    expect(npy.shape).toEqual([12, 768]);
    npy.rows.forEach((row, i) => expect(row).toEqual(records[i]?.vector.map((v) => Math.fround(v))));

    // Batched: 12 texts in batches of 5 are 3 calls, each billed by characters.
    expect(t.calls('text-embedding-005')).toBe(3);
    const status = await t.status();
    expect(status.counts).toMatchObject({ done: 12, failed: 0 });
    expect(status.requests).toBe(3);
    expect(status.cost_usd).toBeGreaterThan(0);
    // The results name the step's file for every item, and carry no vector.
    const results = parse(readFileSync(t.out('results.csv')), { columns: true }) as Record<string, string>[];
    expect(results).toHaveLength(12);
    for (const row of results) expect(row).toMatchObject({ embed_state: 'done', embed_error: '' });
    expect(readFileSync(t.out('results.csv'), 'utf8').length).toBeLessThan(4000);
    // Per-item shares of the batched calls add up to what the ledger recorded (to the nano-dollar).
    const db = new Database(join(t.dir, '.genbatch', 'task-job.db'), { readonly: true });
    const ledgerUsd = (db.prepare('SELECT sum(cost_usd) AS usd FROM ledger').get() as { usd: number }).usd;
    db.close();
    expect(results.reduce((sum, r) => sum + Number(r.cost_usd), 0)).toBeCloseTo(ledgerUsd, 8);
  });

  it('honours output_dimensionality', async () => {
    const t = await taskJob({ items: 3, steps: STEP('    params: { output_dimensionality: 256 }\n') });
    expect((await t.run()).code).toBe(0);
    const first = JSON.parse(readFileSync(t.out('embeddings', 'posts.jsonl'), 'utf8').split('\n')[0] ?? '') as { vector: number[] };
    expect(first.vector).toHaveLength(256);
    expect(readNpy(t.out('embeddings', 'posts.npy')).shape).toEqual([3, 256]);
  });

  it.skipIf(!hasNumpy)('numpy.load reads the .npy file written by a run', async () => {
    const t = await taskJob({ items: 4, steps: STEP() });
    expect((await t.run()).code).toBe(0);
    const check = spawnSync(
      'python3',
      [
        '-c',
        'import sys, json, numpy as np; a = np.load(sys.argv[1]); print(json.dumps([a.dtype.str, list(a.shape), float(np.linalg.norm(a, axis=1).mean())]))',
        t.out('embeddings', 'posts.npy'),
      ],
      { encoding: 'utf8' },
    );
    expect(check.stderr).toBe('');
    const [dtype, shape, norm] = JSON.parse(check.stdout) as [string, number[], number];
    expect([dtype, shape]).toEqual(['<f4', [4, 768]]);
    expect(norm).toBeCloseTo(1, 3);
  });
});
