import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'genbatch.js');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Wall time of one child process, from spawn to exit. */
function wallMs(args: string[]): number {
  const started = performance.now();
  const child = spawnSync(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - started;
  if (child.status !== 0) throw new Error(`node ${args.join(' ')} exited ${child.status}: ${child.stderr.toString()}`);
  return ms;
}

/**
 * How long `genbatch --version` takes to start and exit (the compiled CLI in dist/, with plain node), against a bare
 * `node -e 0` on the same machine: the ratio is what the CLI itself adds. Runs interleaved, after one warm-up each.
 */
export async function startup(runs = 15): Promise<Record<string, string | number>> {
  wallMs([BIN, '--version']);
  wallMs(['-e', '0']);
  const version: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    version.push(wallMs([BIN, '--version']));
    bare.push(wallMs(['-e', '0']));
  }
  const versionMs = median(version);
  const bareMs = median(bare);
  return {
    runs,
    version_median_ms: Math.round(versionMs),
    node_e0_median_ms: Math.round(bareMs),
    ratio: Math.round((versionMs / bareMs) * 100) / 100,
  };
}
