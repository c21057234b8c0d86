import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoThroughput } from './demo-throughput.js';
import { quotaUtilisation } from './quota-utilisation.js';
import { inputThroughput } from './input-throughput.js';
import { startup } from './startup.js';
import { million } from './million.js';
import { sdkRatio } from './sdk-ratio.js';
import { cache } from './cache.js';
import { cacheOverhead } from './cache-overhead.js';

/**
 * `npm run bench [name...]`: prints figures, never pass/fail (the machines are shared and noisy).
 * Each benchmark prints one JSON object per line.
 */
const benchmarks: Record<string, () => Promise<Record<string, string | number>>> = {
  'demo-throughput': () => demoThroughput(3),
  'quota-utilisation': () => quotaUtilisation(),
  'input-throughput': () => inputThroughput(),
  startup: () => startup(),
  million: () => million(),
  'sdk-ratio': () => sdkRatio(),
  cache: () => cache(),
  'cache-overhead': () => cacheOverhead(),
};

const chosen = process.argv.slice(2);
for (const name of chosen.length > 0 ? chosen : Object.keys(benchmarks)) {
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
  console.log(JSON.stringify({ bench: name, ...figures, took_s: Math.round((Date.now() - started) / 100) / 10 }));
}
