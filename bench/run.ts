import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoThroughput } from './demo-throughput.js';
import { fixedQuotaUtilisation, sharedDrop, sharedSteady, sharedTwoJobs } from './quota-utilisation.js';
import { inputThroughput } from './input-throughput.js';
import { startup } from './startup.js';
import { million } from './million.js';
import { sdkRatio } from './sdk-ratio.js';
import { cache } from './cache.js';
import { cacheOverhead } from './cache-overhead.js';
import { declaredTwoJobs, learnedPacing, sourceScenario } from './quota-scenarios.js';
import { inputLimits } from './input-limits.js';
import { quality } from './quality.js';
import { contextCache } from './context-cache.js';

/**
 * `npm run bench [name...]`: prints figures, never pass/fail (the machines are shared and noisy).
 * Each benchmark prints one JSON object per line (one per scenario when it has several).
 */
type Figures = Record<string, string | number>;
const benchmarks: Record<string, () => Promise<Figures | Figures[]>> = {
  'demo-throughput': () => demoThroughput(3),
  // Shared capacity (steady, dropping, two runs on one host and on Redis), then fixed quotas (declared, learned).
  'quota-utilisation': async () => [await sharedSteady(), await sharedDrop(), await sharedTwoJobs(), await fixedQuotaUtilisation()],
  'quota-shared': () => sharedSteady(),
  'quota-shared-drop': () => sharedDrop(),
  'quota-shared-two-jobs': () => sharedTwoJobs(),
  'quota-fixed': () => fixedQuotaUtilisation(),
  // The timing of test/quota's scenarios (their behaviour stays in npm test): how near the quota-bound ideal.
  'source-scenario': () => sourceScenario(),
  'learned-pacing': () => learnedPacing(),
  'quota-declared-two-jobs': () => declaredTwoJobs(),
  'input-throughput': () => inputThroughput(),
  'input-limits': () => inputLimits(),
  startup: () => startup(),
  million: () => million(),
  'sdk-ratio': () => sdkRatio(),
  cache: () => cache(),
  'cache-overhead': () => cacheOverhead(),
  // Issue 28: checks, regenerations and judges on 1,000 items against the same job with no failures.
  quality: () => quality(),
  // Issue 29: input spend with context_cache auto vs off, ledger vs emulator billing.
  'context-cache': () => contextCache(),
};

const chosen = process.argv.slice(2);
/** Parts of quota-utilisation, to run one alone: left out when every benchmark runs. */
const PARTS = new Set(['quota-shared', 'quota-shared-drop', 'quota-shared-two-jobs', 'quota-fixed']);
for (const name of chosen.length > 0 ? chosen : Object.keys(benchmarks).filter((n) => !PARTS.has(n))) {
  const bench = benchmarks[name];
  if (!bench) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(benchmarks).join(', ')}`);
    process.exit(2);
  }
  // A response cache of its own for each benchmark (runs it spawns inherit it): never the user's.
  const cacheDir = mkdtempSync(join(tmpdir(), 'genbatch-bench-cache-'));
  process.env.GENBATCH_CACHE_DIR = cacheDir;
  const started = Date.now();
  const figures = await bench().finally(() => rmSync(cacheDir, { recursive: true, force: true }));
  const tookS = Math.round((Date.now() - started) / 100) / 10;
  for (const line of Array.isArray(figures) ? figures : [figures])
    console.log(JSON.stringify({ bench: name, ...line, ...(Array.isArray(figures) ? {} : { took_s: tookS }) }));
  if (Array.isArray(figures)) console.log(JSON.stringify({ bench: name, took_s: tookS }));
}
