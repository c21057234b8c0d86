import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type EmulatorConfigInput, type RunningEmulator } from '../../src/emulator/index.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Explicit context caching end to end (issue 29): the CLI as a child process against the emulator,
 * whose cachedContents are Vertex's. A 3,000-token style guide comes first in the prompt, so each
 * project gets one cache for the step, requests name it instead of carrying the guide, it is deleted
 * at the end, and the ledger (storage included) equals what the emulator billed.
 */
const tempDir = useTempDir();
const catalog = PriceCatalog.load();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** 3,000 tokens as the emulator counts them (one per word). */
const GUIDE = 'word '.repeat(3000).trim();

/** The fixture job with the 3,000-token guide first in its prompt, before the item fields (and `stepExtra` on its step). */
function styleGuideJob(
  dir: string,
  endpoint: string,
  options: { items: number; projects: string[]; concurrency: number; extra?: string; stepExtra?: string },
): string {
  const file = writeJobFixture(dir, {
    endpoint,
    items: options.items,
    projects: options.projects,
    concurrency: options.concurrency,
    imageStep: false,
    extraJob: `styles:\n  guide: "${GUIDE}"\n${options.extra ?? ''}`,
  });
  writeFileSync(
    file,
    readFileSync(file, 'utf8')
      .replace('prompt: "Image brief for {{title}}: {{meta_description}}"', 'prompt: "{{styles.guide}}\\n\\nImage brief for {{title}}: {{meta_description}}"')
      .replace('max_output_tokens: 300', `max_output_tokens: 300${options.stepExtra ?? ''}`),
  );
  return file;
}

async function emulatorWith(config: EmulatorConfigInput): Promise<RunningEmulator> {
  emulator = await startEmulator(parseEmulatorConfig(config), { port: 0 });
  return emulator;
}

/** What the emulator billed, priced at list prices: uncached and cached input, output, and cache storage. */
function billedUsd(emu: RunningEmulator, only?: 'storage'): number {
  let usd = 0;
  for (const project of Object.values(emu.stats().projects)) {
    for (const [model, c] of Object.entries(project.by_model)) {
      if (only === undefined)
        usd += catalog.cost(model, { ...emptyUsage(), inputTokens: c.input_tokens, cachedTokens: c.cached_input_tokens, outputTokens: c.output_tokens });
      usd += catalog.cacheStorageCost(model, c.cache_storage_token_hours, 3600);
    }
  }
  return usd;
}

function ledger(stateFile: string): { usd: number; storageUsd: number; caches: { name: string; ended_at: number | null }[] } {
  const db = new Database(stateFile, { readonly: true });
  try {
    const usd = (db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger').get() as { usd: number }).usd;
    const storageUsd = (db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger WHERE context_cache IS NOT NULL').get() as { usd: number }).usd;
    const caches = db.prepare('SELECT name, ended_at FROM context_caches ORDER BY created_at').all() as { name: string; ended_at: number | null }[];
    return { usd, storageUsd, caches };
  } finally {
    db.close();
  }
}

/** The most caches alive at once per project and location, from the emulator's create/delete/expire log. */
function mostAliveAtOnce(emu: RunningEmulator): number {
  const alive = new Map<string, number>();
  let most = 0;
  for (const event of emu.cacheLog()) {
    const where = `${event.project}/${event.location}`;
    const n = (alive.get(where) ?? 0) + (event.event === 'create' ? 1 : -1);
    alive.set(where, n);
    most = Math.max(most, n);
  }
  return most;
}

const created = (emu: RunningEmulator): number => emu.cacheLog().filter((e) => e.event === 'create').length;
const ended = (emu: RunningEmulator): number => emu.cacheLog().filter((e) => e.event !== 'create').length;

describe('context_cache: the static prefix served from an explicit cache', () => {
  it('one cache per project, named by every request, deleted at the end; the ledger equals the emulator’s billing, storage included', async () => {
    const emu = await emulatorWith({ seed: 3, caching: { implicit: false } });
    const dir = tempDir();
    const job = styleGuideJob(dir, emu.url, { items: 12, projects: ['proj-a', 'proj-b'], concurrency: 4 });

    const run = await runCli(['run', job]);
    expect(run.code).toBe(0);
    const stats = emu.stats().projects;
    // Each project made one cache for the step (the guide and the fixed text before {{title}}), and every request named it.
    expect(created(emu)).toBe(2);
    expect(mostAliveAtOnce(emu)).toBe(1);
    const prefixTokens = emu.cacheLog()[0]?.tokens ?? 0;
    expect(prefixTokens).toBe(3000 + 4); // "Image brief for " is fixed text too
    const cachedTokens = Object.values(stats).reduce((n, p) => n + p.cached_input_tokens, 0);
    expect(cachedTokens).toBe(12 * prefixTokens);
    // None left behind.
    expect(ended(emu)).toBe(2);
    const state = ledger(join(dir, '.genbatch', 'test-job.db'));
    expect(state.caches.every((c) => c.ended_at !== null)).toBe(true);
    // The ledger equals the emulator's billing to the micro-dollar, with the storage on rows of its own.
    expect(state.storageUsd).toBeGreaterThan(0);
    expect(Math.abs(state.usd - billedUsd(emu))).toBeLessThan(1e-6);
    const cost = await runCli(['cost', job]);
    expect(cost.stdout).toMatch(/context-cache storage: \$0\.0000\d+ \([\d.]+ token-hours\), included in the total/);
    expect(cost.stdout).toMatch(/test-job: \$[\d.]+ over 12 calls/);
    // status counts calls per project: the storage rows are spend there, not requests.
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as {
      projects: { name: string; requests: number; ok: number; cost_usd: number }[];
    };
    expect(status.projects.map((p) => p.name).sort()).toEqual(['proj-a', 'proj-b']);
    expect(status.projects.reduce((n, p) => n + p.requests, 0)).toBe(12);
    expect(status.projects.reduce((n, p) => n + p.ok, 0)).toBe(12);

    // context_cache: off: the guide is sent with every request, no cache.
    const off = await emulatorWith({ seed: 3, caching: { implicit: false } });
    const offDir = tempDir();
    const offJob = styleGuideJob(offDir, off.url, { items: 12, projects: ['proj-a'], concurrency: 4, stepExtra: '\n    context_cache: off' });
    expect((await runCli(['run', offJob])).code).toBe(0);
    expect(created(off)).toBe(0);
    await emu.close();
  });

  it('kill -9 mid-run: the resume reuses the recorded cache, one at a time, none left at the end, storage in the ledger', async () => {
    const emu = await emulatorWith({ seed: 5, caching: { implicit: false }, latency_ms: { min: 40, max: 80 } });
    const dir = tempDir();
    const job = styleGuideJob(dir, emu.url, { items: 16, projects: ['proj-a'], concurrency: 2 });
    const stateFile = join(dir, '.genbatch', 'test-job.db');

    const child = spawnCli(['run', job]);
    await waitUntil(() => (emu.stats().projects['proj-a']?.ok ?? 0) >= 4);
    child.kill('SIGKILL');
    expect((await child.output).signal).toBe('SIGKILL');
    // Killed: the cache is alive, its name and its first TTL's storage already in the state.
    expect(created(emu)).toBe(1);
    expect(ended(emu)).toBe(0);
    const killed = ledger(stateFile);
    expect(killed.caches).toEqual([{ name: emu.cacheLog()[0]?.name, ended_at: null }]);
    expect(killed.storageUsd).toBeGreaterThan(0);

    const resumed = await runCli(['run', job]);
    expect(resumed.code).toBe(0);
    // Reused, not made again; deleted at the end.
    expect(created(emu)).toBe(1);
    expect(mostAliveAtOnce(emu)).toBe(1);
    expect(ended(emu)).toBe(1);
    expect(emu.stats().projects['proj-a']?.cached_input_tokens).toBeGreaterThanOrEqual(16 * 3000);
    const done = ledger(stateFile);
    expect(done.caches.every((c) => c.ended_at !== null)).toBe(true);
    // The storage booked before the kill, extended and corrected at the delete, is what the emulator billed.
    // (Calls in flight at the kill are the ledger's unsettled rows, as for any kill -9: see run-resume.test.ts.)
    expect(Math.abs(done.storageUsd - billedUsd(emu, 'storage'))).toBeLessThan(1e-6);
  });
});
