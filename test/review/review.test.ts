import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'csv-parse/sync';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectCommand } from '../../src/cli/commands/reject.js';
import { reviewCommand } from '../../src/cli/commands/review.js';
import type { CliIO } from '../../src/cli/io.js';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { rejectedItemIds } from '../../src/library/rejections.js';
import { StateStore } from '../../src/store/state-store.js';
import { runCli } from '../helpers/cli.js';
import { readStateFile } from '../helpers/state-file.js';
import { posts, writeJobFixture, writePostsCsv } from '../helpers/job-fixture.js';
import { CHROMIUM, CHROMIUM_ARGS, HAS_CHROMIUM } from '../helpers/review-browser.js';

if (!HAS_CHROMIUM) console.warn(`test/review: skipping the browser check: ${CHROMIUM} is missing (install it with: apt-get install -y chromium).`);

const ITEMS = 8;
const XSS = `<img src=x onerror="window.__xss=1"></article><script>window.__xss=2</script>`;
const NOTE = 'too dark <b>bold</b> "quoted"';

function captureIO(): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout, stderr, stdin: new PassThrough(), out: () => out, err: () => err };
}

/** The few DOM shapes the page checks read (the project compiles without the DOM library). */
interface DomElement {
  dataset: Record<string, string | undefined>;
}
interface DomImage {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  alt: string;
  closest(selector: string): DomElement;
  parentElement: { href: string };
}

interface Fixture {
  dir: string;
  job: string;
  stateFile: string;
  page: string;
  html: string;
  ids: string[];
  rejectedId: string;
  results: Record<string, string>[];
}

let emulator: RunningEmulator | undefined;
let fx: Fixture;

function stepStates(stateFile: string, id: string): Record<string, { state: string; rejected_at: string | null; rejected_note: string | null }> {
  const rows = readStateFile(stateFile, (db) => db.prepare('SELECT step, state, rejected_at, rejected_note FROM item_steps WHERE item_id = ?').all(id)) as {
    step: string;
    state: string;
    rejected_at: string | null;
    rejected_note: string | null;
  }[];
  return Object.fromEntries(rows.map((r) => [r.step, r]));
}

/**
 * A real state file made by the real CLI against the emulator: 4 items done, 1 filtered by the
 * safety filter, 2 failed (replies cut at 5 tokens), 1 pending. Then one item is rejected and the
 * review page is written.
 */
beforeAll(async () => {
  emulator = await startEmulator(parseEmulatorConfig({ seed: 9, latency_ms: 0 }), { port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-review-'));
  const job = writeJobFixture(dir, { endpoint: emulator.url, items: ITEMS, concurrency: 2 });
  const rows = posts(ITEMS);
  rows[1] = { ...rows[1]!, title: `${rows[1]!.title} [unsafe]` };
  rows[2] = { ...rows[2]!, title: `${rows[2]!.title} ${XSS}` };
  writePostsCsv(join(dir, 'posts.csv'), rows);

  const first = await runCli(['run', job, '--limit', '5']);
  // A filtered item is an outcome, not a failure: exit 0 (issue 27 point 7).
  expect(first.code, first.stderr).toBe(0);
  writeFileSync(job, readFileSync(job, 'utf8').replace('max_output_tokens: 300', 'max_output_tokens: 5'));
  const second = await runCli(['run', job, '--limit', '2']);
  expect(second.code, second.stderr).toBe(1);

  const ids = rows.map((r) => r.slug);
  const rejectedId = ids[3]!;
  const io = captureIO();
  expect(await rejectCommand(job, [rejectedId], { note: NOTE, step: 'hero' }, io)).toBe(0);
  expect(io.err()).toMatch(/Rejected 1 item\(s\) \(1 done step\(s\) of hero\)/);

  const page = join(dir, 'review', 'index.html');
  const reviewIO = captureIO();
  expect(await reviewCommand(job, { out: page }, reviewIO)).toBe(0);
  expect(reviewIO.out().trim()).toBe(page);
  expect(reviewIO.err()).toMatch(/Review page for 8 items \(4 done, 2 failed, 1 filtered, 1 pending; 1 rejected\)/);
  const results = parse(readFileSync(join(dir, 'out', 'results.csv')), { columns: true }) as Record<string, string>[];
  fx = { dir, job, stateFile: join(dir, '.genbatch', 'test-job.db'), page, html: readFileSync(page, 'utf8'), ids, rejectedId, results };
});

afterAll(async () => {
  await emulator?.close();
  if (fx) rmSync(fx.dir, { recursive: true, force: true });
});

describe('genbatch review', () => {
  it('writes one self-contained page with a card per item, everything escaped', () => {
    const { html, ids } = fx;
    expect(html.match(/<article class="item"/g)).toHaveLength(ITEMS);
    for (const id of ids) expect(html).toContain(`data-id="${id}"`);
    expect(html.match(/<article [^>]*data-rejected="true"/g)).toHaveLength(1);
    expect(html).toContain('too dark &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot;');
    // Finish reasons other than STOP are shown: the two replies cut at 5 tokens, the blocked prompt.
    expect(html.match(/Finish reason: <code>MAX_TOKENS<\/code>/g)).toHaveLength(2);
    expect(html.match(/Finish reason: <code>PROMPT_BLOCKED_SAFETY<\/code>/g)).toHaveLength(1);
    expect(html).not.toContain('Finish reason: <code>STOP');
    // The payload from the input only ever appears escaped.
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>window.__xss');
    expect(html).toContain('&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;');
    // No external resource: thumbnails are data URIs, and the policy allows nothing else.
    expect(html).not.toMatch(/<img [^>]*src="(?!data:image\/webp;base64,)/);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; img-src data:;/);
  });

  it.skipIf(!HAS_CHROMIUM)(
    'shows every item in headless Chromium: thumbnails decode, errors and filter reasons shown, filters work, nothing injected',
    async () => {
      const profile = mkdtempSync(join(tmpdir(), 'genbatch-chromium-'));
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
      });
      try {
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
        });
        page.on('pageerror', (e) => problems.push(e.message));
        const url = pathToFileURL(fx.page).href;
        await page.goto(url);
        await page.waitForLoadState('load');

        expect(await page.locator('article.item').count()).toBe(ITEMS);
        const states = await page.$$eval('article.item', (els) => els.map((el) => (el as unknown as DomElement).dataset.state));
        expect(states.filter((s) => s === 'done')).toHaveLength(4);
        expect(states.filter((s) => s === 'failed')).toHaveLength(2);
        expect(states.filter((s) => s === 'filtered')).toHaveLength(1);
        expect(states.filter((s) => s === 'pending')).toHaveLength(1);
        expect(await page.locator('article.item:visible').count()).toBe(ITEMS);

        // One decoded thumbnail per done image, with the brief's alt text.
        const thumbs = await page.$$eval('img.thumb', (imgs) =>
          imgs.map((img) => {
            const i = img as unknown as DomImage;
            return {
              complete: i.complete,
              width: i.naturalWidth,
              height: i.naturalHeight,
              alt: i.alt,
              id: i.closest('article').dataset.id,
              href: i.parentElement.href,
            };
          }),
        );
        expect(thumbs).toHaveLength(4);
        for (const thumb of thumbs) {
          expect(thumb.complete && thumb.width > 0 && thumb.height > 0, JSON.stringify(thumb)).toBe(true);
          expect(thumb.width).toBeLessThanOrEqual(320);
          const row = fx.results.find((r) => r.id === thumb.id);
          expect(thumb.alt).toBe(row?.brief_alt_text);
          // The link opens the full image, relative to the page.
          const full = fileURLToPath(thumb.href);
          expect(full).toBe(join(fx.dir, 'out', row?.hero_file ?? ''));
          await expect(sharp(full).metadata()).resolves.toMatchObject({ width: 320, height: 180 });
        }

        // Failed items show their error; the filtered one its reason; the rejected one the note, as text.
        for (const card of await page.locator('article.item[data-state="failed"]').all())
          expect(await card.textContent()).toMatch(/Failed: TRUNCATED .*cut at max_output_tokens \(5[,)]/);
        expect(await page.locator('article.item[data-state="filtered"] .error').textContent()).toMatch(/^Filtered: SAFETY_FILTERED .*safety/i);
        const rejected = page.locator(`article.item[data-rejected="true"]`);
        expect(await rejected.getAttribute('data-id')).toBe(fx.rejectedId);
        expect(await rejected.locator('.badge.rejected').count()).toBe(1);
        expect(await rejected.locator('.rejection').textContent()).toContain(NOTE);
        expect(await rejected.locator('.rejection b').count()).toBe(0);
        expect(await page.locator('section.failures li').count()).toBe(3);

        // The input's markup stays text.
        expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
        expect(await page.locator('script').count()).toBe(1);
        expect(await page.locator(`article.item[data-id="${fx.ids[2]}"] h2`).count()).toBe(1);

        // The filters (the page's own script runs under its CSP).
        await page.click('button[data-filter="failed"]');
        expect(await page.locator('article.item:visible').count()).toBe(2);
        await page.click('button[data-filter="rejected"]');
        expect(await page.locator('article.item:visible').count()).toBe(1);
        await page.click('button[data-filter="all"]');
        await page.fill('#search', 'terraform');
        expect(await page.locator('article.item:visible').count()).toBe(1);
        expect(await page.textContent('#shown')).toBe('1');
        expect(problems).toEqual([]);
      } finally {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );
});

describe('genbatch reject', () => {
  it('keeps the item done until retry --rejected, which redoes only the rejected step', async () => {
    const { job, stateFile, rejectedId, ids } = fx;
    let states = stepStates(stateFile, rejectedId);
    expect(states.brief).toMatchObject({ state: 'done', rejected_at: null });
    expect(states.hero).toMatchObject({ state: 'done', rejected_note: NOTE, rejected_at: expect.stringMatching(/^\d{4}-/) });
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ done: 4, failed: 2, filtered: 1, pending: 1 });

    // All or nothing: an unknown id, or an item with nothing done, marks nothing.
    await expect(rejectCommand(job, [ids[0]!, 'no-such-item'], {}, captureIO())).rejects.toMatchObject({
      exitCode: 2,
      message: 'No such item(s): no-such-item.',
    });
    await expect(rejectCommand(job, [ids[0]!, ids[7]!], {}, captureIO())).rejects.toMatchObject({ code: 'NOTHING_TO_REJECT', exitCode: 2 });
    await expect(rejectCommand(job, [ids[0]!], { step: 'nope' }, captureIO())).rejects.toMatchObject({ exitCode: 2 });

    const store = StateStore.open(stateFile);
    let reset: number;
    try {
      expect(rejectedItemIds(store)).toEqual([rejectedId]);
      reset = store.retryRejected(['brief', 'hero']);
      expect(rejectedItemIds(store)).toEqual([]);
    } finally {
      store.close();
    }
    expect(reset).toBe(1);
    states = stepStates(stateFile, rejectedId);
    expect(states.brief?.state).toBe('done');
    expect(states.hero).toMatchObject({ state: 'pending', rejected_at: null, rejected_note: null });

    // The next run redoes it (the only item with work left before the pending one).
    const resumed = await runCli(['resume', job, '--limit', '1']);
    expect(resumed.code, resumed.stderr).toBe(0); // the failed items left are from earlier runs: not news (issue 27 point 7)
    expect(stepStates(stateFile, rejectedId).hero).toMatchObject({ state: 'done', rejected_at: null });
  });

  it('rejects from the first step by default, can be taken back, and any reset clears the mark', async () => {
    const { job, stateFile, ids } = fx;
    const id = ids[0]!;
    expect(await rejectCommand(job, [id], {}, captureIO())).toBe(0);
    expect(stepStates(stateFile, id)).toMatchObject({
      brief: { rejected_note: null, rejected_at: expect.any(String) },
      hero: { rejected_at: expect.any(String) },
    });
    expect(await rejectCommand(job, [id], { undo: true }, captureIO())).toBe(0);
    expect(stepStates(stateFile, id)).toMatchObject({ brief: { rejected_at: null }, hero: { rejected_at: null } });

    // `retry --ids` (any command that changes the step's state) drops the rejection with the output.
    expect(await rejectCommand(job, [id], { step: 'hero', note: 'x' }, captureIO())).toBe(0);
    const retried = await runCli(['retry', job, '--ids', id, '--step', 'hero']);
    expect(retried.code, retried.stderr).toBe(0);
    expect(stepStates(stateFile, id).hero).toMatchObject({ state: 'pending', rejected_at: null, rejected_note: null });
  });
});
