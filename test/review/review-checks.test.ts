import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/engine/status.js';
import { compileJob } from '../../src/job/compile-job.js';
import type { Job } from '../../src/job/job.js';
import { parseLocated } from '../../src/job/source-locator.js';
import { collectReview, type ReviewData, type ReviewItem, type ReviewStep } from '../../src/review/review-data.js';
import { serveReview } from '../../src/review/review-server.js';
import { StateStore } from '../../src/store/state-store.js';
import { REPO } from '../helpers/cli.js';
import { renderReviewPage } from '../../src/review/review-page.js';
import { HAS_CHROMIUM, openChromium } from '../helpers/review-browser.js';
import { useTempDir } from '../helpers/temp-dir.js';

/** Issue 28: the review page's "failed checks" filter, each failed check's reason beside the output, and before/after of a regeneration. */

const tempDir = useTempDir();

function step(over: Partial<ReviewStep>): ReviewStep {
  return {
    name: 'describe',
    task: 'text',
    model: 'gemini-2.5-flash',
    state: 'done',
    attempts: 1,
    project: 'p',
    costUsd: 0.001,
    promptChanged: false,
    fields: {},
    outputs: [],
    ...over,
  };
}

function item(id: string, ord: number, steps: ReviewStep[]): ReviewItem {
  const failedChecks = steps.some((s) => s.checks?.some((v) => !v.passed) === true || (s.checkAttempts?.length ?? 0) > 0);
  return { id, ord, line: ord + 2, values: { id }, state: 'done', rejected: false, truncated: false, failedChecks, costUsd: 0.001, steps };
}

const ITEMS: ReviewItem[] = [
  item('oak-table', 0, [step({ text: 'A solid oak table for six, oiled by hand.', checks: [{ check: 'words', passed: true }], checkOutcome: 'passed' })]),
  item('lamp', 1, [
    step({
      text: 'A brass desk lamp with a warm, dimmable light and a heavy base that keeps it steady.',
      checks: [
        { check: 'words', passed: true },
        { check: 'judge', passed: true, score: 5 },
      ],
      checkOutcome: 'passed',
      checkAttempts: [
        {
          attempt: 1,
          fields: {},
          text: 'As an AI language model, a lamp.',
          outputs: [],
          checks: [{ check: 'not_contains', passed: false, reason: 'contains "As an AI language model"' }],
          costUsd: 0.001,
          at: '2026-12-07T15:00:00Z',
        },
      ],
    }),
  ]),
  item('chair', 2, [
    step({
      text: 'Ein Stuhl aus Buche.',
      checks: [
        { check: 'words', passed: false, reason: '4 words, at least 20' },
        { check: 'language', passed: false, reason: 'written in German (de), not English (en)' },
      ],
      checkOutcome: 'review',
    }),
  ]),
];

const STATUS = {
  total: 3,
  counts: { done: 3, failed: 0, filtered: 0, pending: 0, running: 0 },
  cost_usd: 0.003,
  requests: 4,
  last_run: null,
} as unknown as StatusReport;

/**
 * A real state file with checks: item a regenerated once after failing `words`, then passing; item b
 * passing at once. Returns the job file (with its input and credentials) and the compiled job.
 */
function checkedJob(dir: string): { jobFile: string; job: Job } {
  const jobFile = join(dir, 'job.yaml');
  writeFileSync(
    jobFile,
    [
      'version: 1',
      'name: blurbs',
      'input: { file: items.csv, id: id }',
      'credentials: credentials.yaml',
      'steps:',
      '  - { name: blurb, task: text, model: gemini-2.5-flash, prompt: "About {{id}}", checks: [ { words: { min: 5 } } ], on_fail: { regenerate: 2 } }',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'items.csv'), 'id\na\nb\n');
  copyFileSync(join(REPO, 'fixtures', 'credentials.emulator.yaml'), join(dir, 'credentials.yaml'));
  const located = parseLocated(readFileSync(jobFile, 'utf8'));
  const job = compileJob(located.value, jobFile, located.lineOf);
  mkdirSync(dirname(job.stateFile), { recursive: true });
  const store = StateStore.open(job.stateFile);
  try {
    store.upsertItems(
      [
        { id: 'a', ord: 0, line: 2, values: { id: 'a' }, inputHash: 'h' },
        { id: 'b', ord: 1, line: 3, values: { id: 'b' }, inputHash: 'h' },
      ],
      ['blurb'],
      'r1',
    );
    store.markRunning('a', 'blurb', 'r1', 'p1');
    // The replaced attempt's file, kept aside as the engine keeps it (relative to `<state file>.checks`).
    const kept = join(`${job.stateFile}.checks`, 'a-blurb', '1', 'a.png');
    mkdirSync(dirname(kept), { recursive: true });
    writeFileSync(kept, KEPT_PNG);
    store.regenerateStep('a', 'blurb', { result: { text: 'too short' }, outputs: ['a-blurb/1/a.png'], checks: FAILED, costUsd: 0.01 }, undefined, 'r1');
    store.markRunning('a', 'blurb', 'r1', 'p1');
    store.completeStep('a', 'blurb', { result: { text: 'long enough to pass the words check' }, outputs: [], promptHash: 'x', costUsd: 0.01 }, undefined, 'r1');
    store.setChecks('a', 'blurb', [{ check: 'words', passed: true }], 'regenerated');
    store.markRunning('b', 'blurb', 'r1', 'p1');
    store.completeStep('b', 'blurb', { result: { text: 'a fine text of six words' }, outputs: [], promptHash: 'y', costUsd: 0.01 }, undefined, 'r1');
    store.setChecks('b', 'blurb', [{ check: 'words', passed: true }], 'passed');
  } finally {
    store.close();
  }
  return { jobFile, job };
}

const FAILED = [{ check: 'words', passed: false, reason: '2 words, at least 5' }];
/** A 2x2 red PNG. */
const KEPT_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAE0lEQVQImWP4z8DwnwGM/zMwAAAf7gP9qS/A4gAAAABJRU5ErkJggg==',
  'base64',
);

describe('review page: quality checks', () => {
  it("reads each step's verdicts, outcome and replaced attempts from the state file", async () => {
    const { job } = checkedJob(tempDir());
    const store = StateStore.open(job.stateFile);
    try {
      const data = await collectReview(job, store, { thumbnails: false });
      const [a, b] = data.items;
      expect(a).toMatchObject({ id: 'a', failedChecks: true });
      expect(a?.steps[0]).toMatchObject({
        text: 'long enough to pass the words check',
        checks: [{ check: 'words', passed: true }],
        checkOutcome: 'regenerated',
        checkAttempts: [{ attempt: 1, text: 'too short', checks: FAILED, costUsd: 0.01, outputs: [{ path: 'a-blurb/1/a.png', kind: 'image' }] }],
      });
      expect(b).toMatchObject({ id: 'b', failedChecks: false });
      expect(b?.steps[0]?.checkAttempts).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it.skipIf(!HAS_CHROMIUM)('the served page (review --serve) filters failed checks and shows the attempt before and the output after', async () => {
    const { jobFile } = checkedJob(tempDir());
    const server = await serveReview(jobFile);
    const { page, problems, close } = await openChromium({ width: 1280, height: 900 });
    try {
      await page.goto(server.url);
      await page.locator('button[data-filter="failed checks"]').click();
      await page.locator('article.item[data-id="a"] .attempt.before').waitFor();
      expect(await page.locator('article.item').count()).toBe(1);
      const a = page.locator('article.item[data-id="a"]');
      expect(await a.locator('.attempt.before .check.failed').textContent()).toBe('words: 2 words, at least 5');
      expect(await a.locator('.attempt.before .text').textContent()).toBe('too short');
      // The replaced attempt's image, served from where the engine kept it.
      await expect.poll(() => a.locator('.attempt.before img').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(2);
      expect(await a.locator('.after-label').textContent()).toBe('After: attempt 2');
      expect(await a.locator('.step > .text').textContent()).toBe('long enough to pass the words check');
      expect(problems).toEqual([]);
    } finally {
      await close();
      await server.close();
    }
  });

  it.skipIf(!HAS_CHROMIUM)('filters the items that failed checks, with each reason beside the output and both versions of a regenerated one', async () => {
    const data: ReviewData = { job: 'catalogue', jobFile: 'job.yaml', generatedAt: '2026-12-07T15:00:00Z', status: STATUS, rejectedItems: 0, items: ITEMS };
    const file = join(tempDir(), 'index.html');
    writeFileSync(file, renderReviewPage(data, { pageDir: tempDir(), jobArg: 'job.yaml' }));
    const { page, problems, close } = await openChromium({ width: 1280, height: 900 });
    try {
      await page.goto(pathToFileURL(file).href);
      expect(await page.textContent('button[data-filter="checks"]')).toBe('failed checks (2)');
      await page.click('button[data-filter="checks"]');
      expect(
        await page.locator('article.item:visible').evaluateAll((cards) => cards.map((c) => (c as unknown as { dataset: { id: string } }).dataset.id)),
      ).toEqual(['lamp', 'chair']);
      const chair = page.locator('article.item[data-id="chair"]');
      expect(await chair.locator('.check.failed').allTextContents()).toEqual([
        'words 4 words, at least 20',
        'language written in German (de), not English (en)',
      ]);
      expect(await chair.locator('.check-outcome').textContent()).toBe('Checks: failed, kept for a person to review');
      const lamp = page.locator('article.item[data-id="lamp"]');
      expect(await lamp.locator('.attempt.before .text').textContent()).toBe('As an AI language model, a lamp.');
      expect(await lamp.locator('.attempt.before .check.failed').textContent()).toBe('not_contains contains "As an AI language model"');
      expect(await lamp.locator('.after-label').textContent()).toBe('After: attempt 2');
      expect(await lamp.locator('.after .text').textContent()).toMatch(/^A brass desk lamp/);
      expect(await lamp.locator('.check.passed[data-check="judge"]').textContent()).toBe('judge passed (score 5)');
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });
});
