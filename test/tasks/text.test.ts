import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { useTaskJobs } from './task-job.js';

const taskJob = useTaskJobs();

const ROWS = [
  { slug: 'cafe', title: 'Café au lait — ein Überblick', topic: 'coffee' },
  { slug: 'tokyo', title: '東京の朝：静かな市場', topic: 'travel' },
  { slug: 'emoji', title: 'Ship it 🚀 without fear', topic: 'ops' },
];

describe('task: text', () => {
  it('writes each reply as a UTF-8 text file, one per item, and records it in the results', async () => {
    const t = await taskJob({
      rows: ROWS,
      steps: `  - name: blurb
    task: text
    model: gemini-2.5-flash
    prompt: "Write a short blurb about {{title}} ({{topic}})."
    max_output_tokens: 1000
    output: { file: "blurbs/{{slug}}.txt" }
`,
      extra: 'results: out/results.csv\n',
    });
    const run = await t.run();
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    expect(readdirSync(t.out('blurbs')).sort()).toEqual(['cafe.txt', 'emoji.txt', 'tokyo.txt']);
    for (const row of ROWS) {
      const bytes = readFileSync(t.out('blurbs', `${row.slug}.txt`));
      // Valid UTF-8 (a fatal decoder throws on any bad sequence), no BOM, real prose.
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      expect(bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(false);
      expect(text.trim().split(/\s+/).length).toBeGreaterThan(5);
      expect(text).not.toMatch(/^\s*[{[]/);
    }
    const results = parse(readFileSync(t.out('results.csv')), { columns: true }) as Record<string, string>[];
    expect(results.map((r) => [r.id, r.blurb_state, r.blurb_file])).toEqual([
      ['cafe', 'done', 'blurbs/cafe.txt'],
      ['tokyo', 'done', 'blurbs/tokyo.txt'],
      ['emoji', 'done', 'blurbs/emoji.txt'],
    ]);
    expect(t.calls('gemini-2.5-flash')).toBe(3);
    const status = await t.status();
    expect(status).toMatchObject({ total: 3, counts: { done: 3, failed: 0, filtered: 0 }, requests: 3, failures: [] });
  });

  it('keeps a text step without an output file in the results (its only home)', async () => {
    const t = await taskJob({
      rows: ROWS,
      steps: `  - name: tagline
    task: text
    model: gemini-2.5-flash
    prompt: "A tagline for {{title}}"
    max_output_tokens: 1000
`,
      extra: 'results: out/results.csv\n',
    });
    expect((await t.run()).code).toBe(0);
    const results = parse(readFileSync(t.out('results.csv')), { columns: true }) as Record<string, string>[];
    expect(results).toHaveLength(3);
    for (const row of results) expect(row.tagline_text?.length).toBeGreaterThan(5);
  });
});
