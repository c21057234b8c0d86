import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { spawnCli } from './cli.js';

/** Debian's Chromium, which the review page's browser tests drive headless (skipped when missing). */
/** Headless Chromium with nothing of its own going to the network (no updates, sync or QUIC): the page under test is all it loads. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);

/**
 * Starts `genbatch review JOB --serve [extra]` as a child process and resolves with the URL it prints.
 * `stop()` sends Ctrl-C and resolves with its exit code.
 */
export async function serveReviewCli(
  args: string[],
  cwd: string,
): Promise<{ url: string; stop: () => Promise<number | null>; output: () => { stdout: string; stderr: string } }> {
  const server = spawnCli(['review', ...args, '--serve'], { cwd });
  let stdout = '';
  let stderr = '';
  server.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const match = /^http:\/\/127\.0\.0\.1:\d+\/$/m.exec(stdout);
      if (match) resolve(match[0]);
    });
    server.once('close', () => reject(new Error(`the review server exited before printing its URL: ${stderr}`)));
  });
  return {
    url,
    stop: async () => {
      server.kill('SIGINT');
      return (await server.output).code;
    },
    output: () => ({ stdout, stderr }),
  };
}

/** A headless Chromium with a throwaway profile; `problems` collects page errors and console errors. */
export async function openChromium(
  viewport = { width: 390, height: 844 },
): Promise<{ context: BrowserContext; page: Page; problems: string[]; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'genbatch-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: CHROMIUM_ARGS,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  return {
    context,
    page,
    problems,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Runs in the page (Playwright sends its source). A function, not a string: polled with page.evaluate rather
 * than page.waitForFunction, whose in-page polling calls eval, which the review page's CSP (rightly) forbids.
 * The tests are typed without the DOM library, hence the cast.
 */
export const allImagesDecoded = (): boolean => {
  type Img = { complete: boolean; naturalWidth: number };
  const doc = (globalThis as unknown as { document: { querySelectorAll(selector: string): ArrayLike<Img> } }).document;
  return Array.from(doc.querySelectorAll('article.item img')).every((i) => i.complete && i.naturalWidth > 0);
};

/** The ids of the cards shown, in order. */
export const shownIds = (page: Page): Promise<string[]> =>
  page.$$eval('article.item', (cards) => cards.map((c) => (c as unknown as { dataset: { id: string } }).dataset.id));
