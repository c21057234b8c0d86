import { demoThroughput } from './demo-throughput.js';
import { quotaUtilisation } from './quota-utilisation.js';
import { inputThroughput } from './input-throughput.js';
import { startup } from './startup.js';
import { million } from './million.js';
import { sdkRatio } from './sdk-ratio.js';
import { cache } from './cache.js';

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
};

const chosen = process.argv.slice(2);
for (const name of chosen.length > 0 ? chosen : Object.keys(benchmarks)) {
  const bench = benchmarks[name];
  if (!bench) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(benchmarks).join(', ')}`);
    process.exit(2);
  }
  const started = Date.now();
  const figures = await bench();
  console.log(JSON.stringify({ bench: name, ...figures, took_s: Math.round((Date.now() - started) / 100) / 10 }));
}
