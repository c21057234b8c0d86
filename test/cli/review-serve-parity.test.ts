import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeCredentials } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { openState } from '../../src/library/open-state.js';
import { allImagesDecoded, HAS_CHROMIUM, openChromium, serveReviewCli, shownIds } from '../helpers/review-browser.js';
import { useTempDir } from '../helpers/temp-dir.js';

// Issue 27.11: what `review --serve` shows a reviewer, driven in Chromium.
const tempDir = useTempDir();

/** A product job: JSON copy with a list of tags, then a picture, over rows with accented cities. */
function writeProductJob(dir: string, url: string): string {
  writeCredentials(join(dir, 'credentials.yaml'), url, [{ name: 'proj-a' }]);
  writeFileSync(join(dir, 'products.csv'), 'sku,title,city\nalpha,Alpha lamp,Zürich\nbeta,Beta chair,Genève\ngamma,Gamma desk,Oslo\n');
  const job = join(dir, 'job.yaml');
  writeFileSync(
    job,
    `version: 1
name: products
input: { file: products.csv, id: sku }
credentials: credentials.yaml
steps:
  - name: copy
    task: text
    model: gemini-2.5-flash
    prompt: "Product copy for {{title}}, sold in {{city}}"
    json: { headline: string, tags: "string[]" }
    max_output_tokens: 2000
  - name: picture
    task: image
    model: gemini-2.5-flash-image
    prompt: "A photo for {{steps.copy.headline}}"
    output: { file: "images/{{sku}}.png" }
limits: { concurrency: 2, max_attempts: 2 }
`,
  );
  return job;
}

let emulator: TestEmulator;
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(() => emulator.close());

/** Every text the progress line showed, recorded in the page by a MutationObserver (no eval: the page's CSP forbids it). */
const recordProgress = (page: Page): Promise<void> =>
  page.evaluate(() => {
    type Node = { textContent: string | null };
    const g = globalThis as unknown as {
      document: { getElementById(id: string): Node };
      MutationObserver: new (cb: () => void) => { observe(node: Node, options: object): void };
      progressTexts: string[];
    };
    const el = g.document.getElementById('progress');
    g.progressTexts = [];
    new g.MutationObserver(() => g.progressTexts.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
  });
const progressTexts = (page: Page): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { progressTexts: string[] }).progressTexts);

describe('genbatch review --serve shows what the static page shows (issue 27.11)', () => {
  it.skipIf(!HAS_CHROMIUM)(
    'each card has its prompt and input row; search folds accents; JSON lists are lists; regenerate progress counts steps',
    async () => {
      const dir = tempDir();
      const job = writeProductJob(dir, emulator.url);
      expect((await runCli(['run', job, '--yes', '--plain'], { cwd: dir })).code).toBe(0);
      const server = await serveReviewCli([job], dir);
      const browser = await openChromium();
      try {
        const { page } = browser;
        await page.goto(server.url);
        await page.locator('article.item').first().waitFor();

        // The prompt each step was sent, and the item's input row, as in the static page.
        const alpha = page.locator('article.item[data-id="alpha"]');
        await alpha.locator('section.step[data-step="copy"] details.prompt summary').click();
        expect(await alpha.locator('section.step[data-step="copy"] details.prompt pre').innerText()).toBe('Product copy for Alpha lamp, sold in Zürich');
        await alpha.locator('details.input summary').click();
        expect(await alpha.locator('details.input').innerText()).toMatch(/sku\s+alpha\s+title\s+Alpha lamp\s+city\s+Zürich/);

        // A JSON array is a list, one entry per element (not `["a","b"]`).
        const tags = alpha.locator('section.step[data-step="copy"] dd[data-field="tags"] li');
        expect(await tags.count()).toBeGreaterThan(0);
        expect(await alpha.locator('section.step[data-step="copy"] dd[data-field="tags"]').innerText()).not.toMatch(/^\[/);

        // Search folds accents (and case) both ways.
        await page.locator('#search').fill('zurich');
        expect(await shownIds(page)).toEqual(['alpha']);
        await page.locator('#search').fill('GENEVE');
        expect(await shownIds(page)).toEqual(['beta']);
        await page.locator('#search').fill('Genève');
        expect(await shownIds(page)).toEqual(['beta']);
        await page.locator('#search').fill('');

        // Reject two items (both of their steps): the progress counts those 4 steps from the start.
        for (const id of ['alpha', 'beta']) {
          await page.locator(`article.item[data-id="${id}"] button.reject`).click();
          await page.locator(`article.item[data-id="${id}"][data-rejected="true"]`).waitFor();
        }
        await recordProgress(page);
        await page.locator('#regenerate').click();
        await page.locator('#progress', { hasText: /^Regenerated:/ }).waitFor({ timeout: 30_000 });
        const texts = (await progressTexts(page)).filter(Boolean);
        expect(texts[0]).toBe('Regenerating: 0 of 4 step(s) done…');
        for (const text of texts.filter((t) => t.startsWith('Regenerating'))) expect(text).toMatch(/^Regenerating: [0-4] of 4 step\(s\) done/);
        expect(await page.locator('#progress').innerText()).toMatch(/^Regenerated: 4 of 4 step\(s\) done, 0 failed\./);

        // The static page folds accents and shows lists the same way.
        expect((await runCli(['review', job], { cwd: dir })).code).toBe(0);
        await page.goto(pathToFileURL(join(dir, 'out', 'review.html')).href);
        await page.locator('#search').fill('zurich');
        expect(await page.locator('article.item:not([hidden])').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-id')))).toEqual(['alpha']);
        expect(await page.locator('article.item[data-id="alpha"] dd[data-field="tags"] li').count()).toBeGreaterThan(0);
        expect(browser.problems).toEqual([]);
      } finally {
        await browser.close();
        expect(await server.stop()).toBe(0);
      }
    },
    90_000,
  );
});

describe('review --serve --emulator: regenerate is a new draw, shown before and after until the reviewer chooses (issue 27.12)', () => {
  it.skipIf(!HAS_CHROMIUM)(
    'regenerated items differ, both versions side by side; keep old restores the file and result, keep new keeps the new one; both recorded',
    async () => {
      const dir = tempDir();
      // --emulator: the in-process emulator, started anew (same seed) by each command.
      const job = writeProductJob(dir, 'https://unused.invalid');
      expect((await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir })).code).toBe(0);
      const image = (id: string): Buffer => readFileSync(join(dir, 'out', 'images', `${id}.png`));
      const original = { alpha: image('alpha'), beta: image('beta'), gamma: image('gamma') };
      const firstResults = await openState(job, { readonly: true });
      const originalCopy = firstResults.item('alpha')?.steps.find((s) => s.step === 'copy')?.result;
      firstResults.close();

      const server = await serveReviewCli([job, '--emulator'], dir);
      const browser = await openChromium({ width: 1000, height: 900 });
      try {
        const { page } = browser;
        await page.goto(server.url);
        await page.locator('article.item').first().waitFor();
        for (const id of ['alpha', 'beta']) {
          await page.locator(`article.item[data-id="${id}"] button.reject`).click();
          await page.locator(`article.item[data-id="${id}"][data-rejected="true"]`).waitFor();
        }
        await page.locator('#regenerate').click();
        await page.locator('#progress', { hasText: /^Regenerated: 4 of 4 step\(s\) done, 0 failed/ }).waitFor({ timeout: 30_000 });

        // A new draw: the regenerated pictures are other bytes; gamma was not touched.
        expect(image('alpha').equals(original.alpha)).toBe(false);
        expect(image('beta').equals(original.beta)).toBe(false);
        expect(image('gamma').equals(original.gamma)).toBe(true);

        // Before and after side by side, both loaded, until the reviewer chooses.
        const alpha = page.locator('article.item[data-id="alpha"][data-comparing="true"]');
        await alpha.waitFor();
        await page.locator('article.item[data-id="beta"][data-comparing="true"]').waitFor();
        await expect.poll(() => page.evaluate(allImagesDecoded), { timeout: 10_000 }).toBe(true);
        const picture = alpha.locator('section.step[data-step="picture"] .compare');
        const [beforeSrc, afterSrc] = [
          await picture.locator('figure.before img').getAttribute('src'),
          await picture.locator('figure.after img').getAttribute('src'),
        ];
        const bytes = async (src: string | null): Promise<Buffer> => Buffer.from(await (await page.request.get(new URL(src ?? '', server.url).href)).body());
        expect((await bytes(beforeSrc)).equals(original.alpha)).toBe(true);
        expect((await bytes(afterSrc)).equals(image('alpha'))).toBe(true);
        const headline = (side: string): Promise<string> =>
          alpha.locator(`section.step[data-step="copy"] figure.${side} dd[data-field="headline"]`).innerText();
        expect(await headline('before')).toBe((originalCopy as { headline: string }).headline);
        expect(await headline('after')).not.toBe(await headline('before'));

        // The static page says which outputs wait for a choice, and links the kept copy.
        expect((await runCli(['review', job], { cwd: dir })).code).toBe(0);
        const staticPage = readFileSync(join(dir, 'out', 'review.html'), 'utf8');
        expect(staticPage.match(/<p class="muted replaced">Regenerated [^<]+; the output it replaced/g)).toHaveLength(4);

        // Keep old on alpha: its file and result are put back; keep new (approve) on beta.
        await alpha.locator('button.keep-old').click();
        await page.locator('article.item[data-id="alpha"][data-comparing="false"]').waitFor();
        await page.locator('article.item[data-id="beta"][data-comparing="true"] button.approve').click();
        await page.locator('article.item[data-id="beta"][data-comparing="false"][data-approved="true"]').waitFor();
        expect(image('alpha').equals(original.alpha)).toBe(true);
        expect(image('beta').equals(original.beta)).toBe(false);
        expect(await page.locator('article.item .compare').count()).toBe(0);

        const state = await openState(job, { readonly: true });
        try {
          expect(state.item('alpha')?.steps.find((s) => s.step === 'copy')?.result).toEqual(originalCopy);
          const decisions = (id: string): [string, string | null][] => state.store.replacedOfItem(id).map((r) => [r.step, r.decision]);
          expect(decisions('alpha')).toEqual([
            ['copy', 'old'],
            ['picture', 'old'],
          ]);
          expect(decisions('beta')).toEqual([
            ['copy', 'new'],
            ['picture', 'new'],
          ]);
          expect(state.approvedIds()).toEqual(['beta']);
        } finally {
          state.close();
        }
        expect(browser.problems).toEqual([]);
      } finally {
        await browser.close();
        expect(await server.stop()).toBe(0);
      }
    },
    120_000,
  );
});
