import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../src/library/open-state.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { allImagesDecoded, CHROMIUM, CHROMIUM_ARGS, HAS_CHROMIUM } from '../helpers/review-browser.js';
import { useTempDir } from '../helpers/temp-dir.js';

if (!HAS_CHROMIUM) console.warn(`test/cli/review-serve: skipping the browser check: ${CHROMIUM} is missing (install it with: apt-get install -y chromium).`);

const tempDir = useTempDir();
const IMAGE_ONLY = `  - name: picture
    task: image
    model: gemini-2.5-flash-image
    prompt: "A picture for {{title}}"
    output: { file: "images/{{slug}}.png" }
`;

let emulator: TestEmulator;
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(() => emulator.close());

const requests = (): number => Object.values(emulator.stats().projects).reduce((n, p) => n + p.requests, 0);

/** The src of each card's image (the new one of a regenerated item), by item id. */
const imageSources = (page: Page): Promise<Record<string, string>> =>
  page.$$eval('article.item', (cards) =>
    Object.fromEntries(
      cards.map((c) => [
        (c as unknown as { dataset: { id: string } }).dataset.id,
        (c.querySelector('figure.after img') ?? c.querySelector('img'))?.getAttribute('src') ?? '',
      ]),
    ),
  );

describe('genbatch review --serve', () => {
  it.skipIf(!HAS_CHROMIUM)(
    'in a phone-sized Chromium: reject 2 items (written at once), regenerate them (exactly 2 calls), the new images shown; filters, search and keys work',
    async () => {
      const dir = tempDir();
      writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'proj-a' }]);
      const job = writeJob(dir, { items: 5, steps: IMAGE_ONLY, limits: '{ concurrency: 2, max_attempts: 2 }' });
      const run = await runCli(['run', job, '--yes', '--plain'], { cwd: dir });
      expect(run.code).toBe(0);
      expect(requests()).toBe(5);

      const server = spawnCli(['review', job, '--serve'], { cwd: dir });
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          const match = /^http:\/\/127\.0\.0\.1:\d+\/$/m.exec(out);
          if (match) resolve(match[0]);
        });
        server.once('close', () => reject(new Error('the review server exited before printing its URL')));
      });
      const profile = mkdtempSync(join(tmpdir(), 'genbatch-chromium-'));
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 390, height: 844 },
        args: CHROMIUM_ARGS,
      });
      try {
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('pageerror', (e) => problems.push(e.message));
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(m.text());
        });
        await page.goto(url);
        await page.locator('article.item').first().waitFor();
        expect(await page.locator('article.item').count()).toBe(5);
        // Phone-sized: nothing wider than the window.
        expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
        const ids = await page.$$eval('article.item', (cards) => cards.map((c) => (c as unknown as { dataset: { id: string } }).dataset.id));
        const [first, second, third] = ids as [string, string, string];
        await expect.poll(() => page.evaluate(allImagesDecoded), { timeout: 10_000 }).toBe(true);
        const before = await imageSources(page);

        // Reject two, the first with a note: the state file says so at once.
        await page.locator(`article.item[data-id="${first}"] .note-input`).fill('too busy');
        await page.locator(`article.item[data-id="${first}"] button.reject`).click();
        await page.locator(`article.item[data-id="${first}"][data-rejected="true"]`).waitFor();
        await page.locator(`article.item[data-id="${second}"] button.reject`).click();
        await page.locator(`article.item[data-id="${second}"][data-rejected="true"]`).waitFor();
        const state = await openState(job, { readonly: true });
        try {
          expect(state.rejectedIds()).toEqual([first, second]);
          expect(state.store.rejectedSteps().find((r) => r.itemId === first)?.note).toBe('too busy');
        } finally {
          state.close();
        }

        // Filter and search.
        await page.locator('button[data-filter="rejected"]').click();
        expect(await page.locator('article.item').count()).toBe(2);
        await page.locator('button[data-filter="all"]').click();
        await page.locator('#search').fill(third);
        expect(await page.$$eval('article.item', (cards) => cards.map((c) => (c as unknown as { dataset: { id: string } }).dataset.id))).toEqual([third]);
        await page.locator('#search').fill('');

        // Keys: j to the first card, j to the next, a approves it.
        await page.locator('h1').click();
        await page.keyboard.press('j');
        await page.keyboard.press('j');
        await page.keyboard.press('j');
        await page.keyboard.press('a');
        await page.locator(`article.item[data-id="${third}"][data-approved="true"]`).waitFor();

        // Regenerate: exactly the two rejected items are called again, and their new images are shown.
        await page.locator('#regenerate').click();
        await page.locator('#progress', { hasText: /^Regenerated: 2 of 2 step\(s\) done, 0 failed/ }).waitFor({ timeout: 30_000 });
        expect(requests()).toBe(7);
        await page.locator(`article.item[data-id="${first}"][data-rejected="false"][data-comparing="true"]`).waitFor();
        await expect.poll(() => page.evaluate(allImagesDecoded), { timeout: 10_000 }).toBe(true);
        const after = await imageSources(page);
        for (const id of ids) {
          if (id === first || id === second) expect([id, after[id] !== before[id]]).toEqual([id, true]);
          else expect([id, after[id]]).toEqual([id, before[id]]);
        }
        const done = await openState(job, { readonly: true });
        try {
          expect(done.status().counts).toMatchObject({ done: 5, pending: 0 });
          expect(done.rejectedIds()).toEqual([]);
          expect(done.approvedIds()).toEqual([third]);
        } finally {
          done.close();
        }
        expect(problems).toEqual([]);
      } finally {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
        server.kill('SIGINT');
      }
      expect((await server.output).code).toBe(0);
    },
    90_000,
  );

  it('refuses a job that has not run yet, naming the state file (exit 2)', async () => {
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'proj-a' }]);
    const job = writeJob(dir, { items: 2, steps: IMAGE_ONLY, limits: '{ concurrency: 1 }' });
    const result = await runCli(['review', job, '--serve'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/has not run yet: there is no state file at .*\.genbatch/);
  });

  it('refuses changes without its header, and requests naming another host (exit 0 on Ctrl-C)', async () => {
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'proj-a' }]);
    const job = writeJob(dir, { items: 2, steps: IMAGE_ONLY, limits: '{ concurrency: 1 }' });
    expect((await runCli(['run', job, '--yes', '--plain'], { cwd: dir })).code).toBe(0);
    const server = spawnCli(['review', job, '--serve'], { cwd: dir });
    try {
      const url = await new Promise<string>((resolve) => server.stdout?.on('data', (d: Buffer) => resolve(d.toString().trim())));
      const id = 'kubernetes-1';
      const plain = await fetch(`${url}api/items/${id}/reject`, { method: 'POST', body: '{}' });
      expect(plain.status).toBe(403);
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = request(`${url}api/items`, { headers: { host: 'evil.example' } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(421);
      const state = await openState(job, { readonly: true });
      try {
        expect(state.rejectedIds()).toEqual([]);
      } finally {
        state.close();
      }
    } finally {
      server.kill('SIGINT');
    }
    expect((await server.output).code).toBe(0);
  });
});
