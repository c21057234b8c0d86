import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEmulatorConfig, startEmulator } from '../src/emulator/index.js';
import { timed, writeGenbatchJob } from './sdk-ratio.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'genbatch.js');
const ITEMS = 10_000;
const CONCURRENCY = 16;

/**
 * What the response cache costs and saves in a whole run: 10,000 text items (one output file each)
 * on a zero-latency emulator, where genbatch's own work is all there is to measure. Three runs, each
 * a new job name (its own state): without the cache (`--no-cache`), with an empty cache (every item a
 * lookup that misses, then a call and a store), and a copy with that cache warm (every item a hit, no call).
 */
export async function cacheOverhead(): Promise<Record<string, string | number>> {
  const emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'genbatch-cache-bench-'));
  const env = { GENBATCH_CACHE_DIR: join(dir, 'cache') };
  try {
    const run = async (name: string, flags: string[]): Promise<{ seconds: number; calls: number }> => {
      const before = emulator.log().length;
      const job = writeGenbatchJob(dir, emulator.url, CONCURRENCY, ITEMS, name);
      const result = await timed([BIN, 'run', job, '--yes', '--plain', ...flags], dir, env);
      if (result.code !== 0) throw new Error(`genbatch run ${name} failed (exit ${result.code}): ${result.stderr.slice(-500)}`);
      return { seconds: result.seconds, calls: emulator.log().length - before };
    };
    const off = await run('cache-off', ['--no-cache']);
    const cold = await run('cache-cold', []);
    const warm = await run('cache-warm', []);
    return {
      scenario: `${ITEMS} text items with one output file each, concurrency ${CONCURRENCY}, zero-latency emulator`,
      no_cache_s: Number(off.seconds.toFixed(2)),
      cold_cache_s: Number(cold.seconds.toFixed(2)),
      warm_cache_s: Number(warm.seconds.toFixed(2)),
      cold_overhead_ms_per_item: Number((((cold.seconds - off.seconds) * 1000) / ITEMS).toFixed(3)),
      cold_vs_no_cache_ratio: Number((cold.seconds / off.seconds).toFixed(2)),
      warm_calls: warm.calls,
      warm_items_per_second: Math.round(ITEMS / warm.seconds),
      no_cache_calls: off.calls,
      cold_calls: cold.calls,
    };
  } finally {
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
