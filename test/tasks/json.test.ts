import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { useTaskJobs } from './task-job.js';

const taskJob = useTaskJobs();

const TONES = ['calm', 'bold', 'playful'];

const BRIEF = `  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Plan a hero image for {{title}}: {{meta_description}}"
    json: { alt_text: string, tone: [${TONES.join(', ')}], keywords: "string[]", score: number }
    max_output_tokens: 400
    output: { file: "briefs/{{slug}}.json" }
`;
// The later step uses two fields of the brief: one in its prompt, one in its output path.
const CAPTION = `  - name: caption
    task: text
    model: gemini-2.5-flash-lite
    prompt: "Write a caption. Picture: {{steps.brief.alt_text}}"
    max_output_tokens: 1000
    output: { file: "captions/{{steps.brief.tone}}/{{slug}}.txt" }
`;

interface Brief {
  alt_text: string;
  tone: string;
  keywords: string[];
  score: number;
}

function checkBrief(value: unknown): asserts value is Brief {
  expect(value).toBeTypeOf('object');
  const brief = value as Record<string, unknown>;
  expect(Object.keys(brief).sort()).toEqual(['alt_text', 'keywords', 'score', 'tone']);
  expect(brief.alt_text).toBeTypeOf('string');
  expect((brief.alt_text as string).length).toBeGreaterThan(0);
  expect(TONES).toContain(brief.tone);
  expect(Array.isArray(brief.keywords)).toBe(true);
  for (const k of brief.keywords as unknown[]) expect(k).toBeTypeOf('string');
  expect(brief.score).toBeTypeOf('number');
}

describe('task: JSON', () => {
  it('writes schema-valid JSON, passes its fields to a later step, and puts them in the results', async () => {
    const t = await taskJob({ items: 6, steps: BRIEF + CAPTION, extra: 'results: out/results.csv\n' });
    const run = await t.run();
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    const briefs = new Map<string, Brief>();
    for (const name of readdirSync(t.out('briefs'))) {
      const value: unknown = JSON.parse(readFileSync(t.out('briefs', name), 'utf8'));
      checkBrief(value);
      briefs.set(name.replace(/\.json$/, ''), value);
    }
    expect(briefs.size).toBe(6);

    // The later step saw each item's own fields: its file sits in the folder named by that item's tone.
    const captions = readdirSync(t.out('captions'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    expect(captions).toHaveLength(6);
    for (const [slug, brief] of briefs) {
      expect(readFileSync(t.out('captions', brief.tone, `${slug}.txt`), 'utf8').length).toBeGreaterThan(10);
    }

    const results = parse(readFileSync(t.out('results.csv')), { columns: true }) as Record<string, string>[];
    expect(results).toHaveLength(6);
    for (const row of results) {
      const brief = briefs.get(row.id ?? '');
      expect(brief, row.id).toBeDefined();
      expect(row).toMatchObject({
        brief_state: 'done',
        brief_file: `briefs/${row.id}.json`,
        brief_alt_text: brief?.alt_text,
        brief_tone: brief?.tone,
        brief_keywords: JSON.stringify(brief?.keywords),
        caption_state: 'done',
        caption_file: `captions/${brief?.tone}/${row.id}.txt`,
      });
      expect(Number(row.brief_score)).toBe(brief?.score);
      expect(Number(row.cost_usd)).toBeGreaterThan(0);
    }
    expect(t.calls('gemini-2.5-flash')).toBe(6);
    expect(t.calls('gemini-2.5-flash-lite')).toBe(6);
  });

  it('writes the same results as JSON Lines, fields in their JSON types', async () => {
    const t = await taskJob({ items: 3, steps: BRIEF, extra: 'results: out/results.jsonl\n' });
    expect((await t.run()).code).toBe(0);
    const records = readFileSync(t.out('results.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; steps: { brief: { state: string; files: string[]; fields: unknown } }; cost_usd: number });
    expect(records.map((r) => r.id)).toEqual(['kubernetes-1', 'terraform-2', 'postgresql-3']);
    for (const record of records) {
      expect(record.steps.brief.state).toBe('done');
      expect(record.steps.brief.files).toEqual([`briefs/${record.id}.json`]);
      checkBrief(record.steps.brief.fields);
      expect(record.steps.brief.fields).toEqual(JSON.parse(readFileSync(t.out('briefs', `${record.id}.json`), 'utf8')));
      expect(record.cost_usd).toBeGreaterThan(0);
    }
  });
});
