import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { loadJob } from '../../src/job/load-job.js';
import { writeEmbeddingFiles } from '../../src/outputs/embedding-files.js';
import { npyHeader } from '../../src/outputs/npy-writer.js';
import { writeResults } from '../../src/outputs/results-writer.js';
import { StateStore, type ItemRow } from '../../src/store/state-store.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
/** More than two pages of the writers (500 items a page). */
const ITEMS = 1234;

describe('results and embedding files are written a page at a time', () => {
  it('writes every item once, in input order, across page boundaries (items sharing an ord included)', async () => {
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), 'http://127.0.0.1:9', [{ name: 'vec' }]);
    const jobFile = writeJob(dir, {
      items: 3,
      steps: `  - name: embed
    task: embedding
    model: text-embedding-005
    prompt: "{{title}}"
    output: { file: vectors/all.jsonl, npy: vectors/all.npy }
`,
      limits: '{ concurrency: 2 }',
      extra: 'results: out/results.csv\n',
    });
    const job = await loadJob(jobFile);
    const store = StateStore.open(job.stateFile);
    const rows: ItemRow[] = Array.from({ length: ITEMS }, (_, i) => ({ id: `id-${i}`, ord: i, line: i + 2, values: { title: `t${i}` }, inputHash: `h${i}` }));
    store.upsertItems(rows, ['embed'], 'r1');
    // Item 499 leaves the input (kept: it will be done); the rest move up, so id-500 shares its ord.
    for (let i = 0; i < ITEMS; i++) {
      // Every 7th item has no vector in its result: it is left out of both files, as before.
      const result = i % 7 === 3 ? { text: 'none' } : { vector: [i, -i, i / 2] };
      store.completeStep(`id-${i}`, 'embed', { result, outputs: [], promptHash: 'h', costUsd: 0.001 });
    }
    store.upsertItems(
      rows.filter((r) => r.id !== 'id-499').map((r, ord) => ({ ...r, ord })),
      ['embed'],
      'r2',
    );

    await writeEmbeddingFiles(job, store, join(dir, 'scratch'));
    const expected = rows.map((_, i) => i).filter((i) => i % 7 !== 3);
    const lines = readFileSync(join(dir, 'out', 'vectors', 'all.jsonl'), 'utf8')
      .trimEnd()
      .split('\n');
    const ids = lines.map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toHaveLength(expected.length);
    expect(new Set(ids).size).toBe(expected.length);
    expect(ids.slice(0, 3)).toEqual(['id-0', 'id-1', 'id-2']);
    expect(ids.at(-1)).toBe(`id-${ITEMS - 1}`);
    expect(JSON.parse(lines[9] ?? '{}')).toEqual({ id: 'id-11', vector: [11, -11, 5.5] }); // id-3 and id-10 have none

    const npy = readFileSync(join(dir, 'out', 'vectors', 'all.npy'));
    const headerLength = npy.readUInt16LE(8);
    expect(npy.subarray(0, 10 + headerLength)).toEqual(npyHeader(expected.length, 3));
    expect(npy.length).toBe(10 + headerLength + expected.length * 3 * 4);
    // Row k of the matrix is line k of the JSON Lines file.
    for (const k of [0, 499, 500, expected.length - 1]) {
      const id = Number(ids[k]?.slice(3));
      expect(npy.readFloatLE(10 + headerLength + k * 12)).toBe(id);
      expect(npy.readFloatLE(10 + headerLength + k * 12 + 4) + id).toBe(0);
    }

    await writeResults(job, store, join(dir, 'scratch'));
    const records = parse(readFileSync(join(dir, 'out', 'results.csv'), 'utf8'), { columns: true }) as { id: string; embed_state: string; cost_usd: string }[];
    expect(records).toHaveLength(ITEMS);
    expect(new Set(records.map((r) => r.id)).size).toBe(ITEMS);
    expect(records.slice(0, 2).map((r) => r.id)).toEqual(['id-0', 'id-1']);
    expect(records.every((r) => r.embed_state === 'done' && r.cost_usd === '0.001')).toBe(true);
    // No temp file left: the scratch folder keeps only its record of the folders written into.
    expect(readdirSync(join(dir, 'scratch'))).toEqual(['output-folders']);
    expect(readdirSync(join(dir, 'out', 'vectors')).sort()).toEqual(['all.jsonl', 'all.npy']);
    store.close();
  });

  it('writes the header alone for a step with nothing done, as before', async () => {
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), 'http://127.0.0.1:9', [{ name: 'vec' }]);
    const jobFile = writeJob(dir, {
      items: 2,
      steps: `  - name: embed
    task: embedding
    model: text-embedding-005
    prompt: "{{title}}"
    output: { file: vectors/all.jsonl, npy: vectors/all.npy }
`,
      limits: '{ concurrency: 2 }',
    });
    const job = await loadJob(jobFile);
    const store = StateStore.open(job.stateFile);
    store.upsertItems([{ id: 'a', ord: 0, line: 2, values: { title: 'a' }, inputHash: 'h' }], ['embed'], 'r1');
    await writeEmbeddingFiles(job, store, join(dir, 'scratch'));
    expect(readFileSync(join(dir, 'out', 'vectors', 'all.jsonl'), 'utf8')).toBe('');
    expect(readFileSync(join(dir, 'out', 'vectors', 'all.npy'))).toEqual(npyHeader(0, 0));
    store.close();
  });
});
