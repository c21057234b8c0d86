import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { PriceCatalog } from '../src/estimate/price-catalog.js';
import { emptyUsage } from '../src/providers/provider.js';
import { timed } from './sdk-ratio.js';

const BIN = fileURLToPath(new URL('../bin/genbatch.js', import.meta.url));
const ITEMS = 1000;
const MODEL = 'gemini-2.5-flash';
/** 3,000 tokens as the emulator counts them (one per short word). */
const GUIDE = 'word '.repeat(3000).trim();
const catalog = PriceCatalog.load();

/** The issue's job: a 3,000-token style guide first, a short item text, 1,000 items, on gemini-2.5-flash. */
function writeJob(dir: string, url: string, contextCache: 'auto' | 'off', projects: string[]): string {
  const rows = Array.from({ length: ITEMS }, (_, i) => `item-${i},"Product ${i}: a stoneware mug, 350 ml, hand-glazed in colour ${i % 17}"`);
  writeFileSync(join(dir, 'input.csv'), `id,text\n${rows.join('\n')}\n`);
  writeFileSync(
    join(dir, 'credentials.yaml'),
    `projects:\n${projects.map((p) => `  - { name: ${p}, project: ${p}, location: us-central1, api_key: bench, endpoint: "${url}" }`).join('\n')}\n`,
  );
  const file = join(dir, 'job.yaml');
  writeFileSync(
    file,
    `version: 1
name: context-cache-bench
input: { file: input.csv, id: id }
credentials: credentials.yaml
styles:
  guide: "${GUIDE}"
steps:
  - name: copy
    task: text
    model: ${MODEL}
    prompt: "{{styles.guide}}\\n\\nWrite the description. {{text}}"
    json: { description: string }
    max_output_tokens: 200
    params: { thinking_budget: 0 }
    context_cache: ${contextCache}
limits: { concurrency: 16 }
budget: { confirm_above_usd: 100 }
`,
  );
  return file;
}

/** What the emulator billed: input (uncached and cached apart), output, and cache storage. */
function billed(emu: RunningEmulator): { inputUsd: number; totalUsd: number; storageUsd: number; cachesCreated: number; cachesLeft: number } {
  let inputUsd = 0;
  let totalUsd = 0;
  let storageUsd = 0;
  let created = 0;
  let ended = 0;
  for (const project of Object.values(emu.stats().projects)) {
    created += project.caches_created;
    ended += project.caches_deleted + project.caches_expired;
    for (const [model, c] of Object.entries(project.by_model)) {
      inputUsd += catalog.cost(model, { ...emptyUsage(), inputTokens: c.input_tokens, cachedTokens: c.cached_input_tokens });
      totalUsd += catalog.cost(model, { ...emptyUsage(), inputTokens: c.input_tokens, cachedTokens: c.cached_input_tokens, outputTokens: c.output_tokens });
      storageUsd += catalog.cacheStorageCost(model, c.cache_storage_token_hours, 3600);
    }
  }
  return { inputUsd, totalUsd: totalUsd + storageUsd, storageUsd, cachesCreated: created, cachesLeft: created - ended };
}

function ledgerUsd(stateFile: string): number {
  const db = new Database(stateFile, { readonly: true });
  try {
    return (db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger').get() as { usd: number }).usd;
  } finally {
    db.close();
  }
}

async function runOnce(
  contextCache: 'auto' | 'off',
  implicit: boolean,
  projects: string[],
): Promise<{ seconds: number; inputUsd: number; storageUsd: number; ledgerMinusBilledUsd: number; cachesCreated: number; cachesLeft: number }> {
  const emu = await startEmulator(parseEmulatorConfig({ latency_ms: 0, caching: { implicit } }), { port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-context-cache-'));
  try {
    const job = writeJob(dir, emu.url, contextCache, projects);
    const run = await timed([BIN, 'run', job, '--yes', '--plain'], dir, { GENBATCH_CACHE_DIR: join(dir, 'response-cache') });
    if (run.code !== 0) throw new Error(`genbatch run failed (exit ${run.code}): ${run.stderr.slice(-500)}`);
    const b = billed(emu);
    const ledger = ledgerUsd(join(dir, '.genbatch', 'context-cache-bench.db'));
    return {
      seconds: run.seconds,
      inputUsd: b.inputUsd,
      storageUsd: b.storageUsd,
      ledgerMinusBilledUsd: ledger - b.totalUsd,
      cachesCreated: b.cachesCreated,
      cachesLeft: b.cachesLeft,
    };
  } finally {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const usd = (n: number): number => Math.round(n * 1e6) / 1e6;

/**
 * Issue 29's figure: the 1,000-item job with a 3,000-token style guide on gemini-2.5-flash, its input
 * spend with `context_cache: auto` against the same job with caching off (no explicit cache, and the
 * emulator's implicit caching off too; also with implicit caching on, as Vertex has it by default), the
 * storage, and the ledger against the emulator's billing (cached tokens and storage included).
 */
export async function contextCache(): Promise<Record<string, string | number>[]> {
  const projects = ['proj-a', 'proj-b'];
  const auto = await runOnce('auto', false, projects);
  const off = await runOnce('off', false, projects);
  const offImplicit = await runOnce('off', true, projects);
  return [
    {
      scenario: `${ITEMS} items, 3,000-token style guide first, ${MODEL}, 2 projects, concurrency 16`,
      input_usd_auto: usd(auto.inputUsd),
      input_usd_off: usd(off.inputUsd),
      input_share_pct: Math.round((auto.inputUsd / off.inputUsd) * 1000) / 10,
      storage_usd_auto: Number(auto.storageUsd.toFixed(9)),
      caches_created: auto.cachesCreated,
      caches_left: auto.cachesLeft,
      ledger_minus_billed_usd_auto: Number(auto.ledgerMinusBilledUsd.toFixed(9)),
      ledger_minus_billed_usd_off: Number(off.ledgerMinusBilledUsd.toFixed(9)),
      seconds_auto: Number(auto.seconds.toFixed(1)),
      seconds_off: Number(off.seconds.toFixed(1)),
    },
    {
      scenario: 'caching off, the emulator’s implicit caching on (Vertex’s default for Gemini 2.5)',
      input_usd_off_implicit: usd(offImplicit.inputUsd),
      input_share_pct_auto_vs_implicit: Math.round((auto.inputUsd / offImplicit.inputUsd) * 1000) / 10,
      ledger_minus_billed_usd: Number(offImplicit.ledgerMinusBilledUsd.toFixed(9)),
    },
  ];
}
