import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseEmulatorConfig, startEmulator } from '../src/emulator/index.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'genbatch.js');

function runChild(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/**
 * The demo job (289 items, brief → hero image with resize and caption) against a zero-latency
 * emulator with no quota, through the real CLI: what the engine itself costs per item.
 */
export async function demoThroughput(runs = 3): Promise<Record<string, string | number>> {
  const emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
  const figures: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'genbatch-bench-'));
      try {
        cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
        cpSync(join(REPO, 'fixtures'), join(dir, 'fixtures'), { recursive: true });
        writeFileSync(
          join(dir, 'fixtures', 'credentials.emulator.yaml'),
          ['blog-prod', 'blog-batch', 'blog-overflow']
            .map(
              (p, n) => `${n === 0 ? 'projects:\n' : ''}  - { name: ${p}, project: ${p}, location: us-central1, api_key: bench, endpoint: "${emulator.url}" }`,
            )
            .join('\n') + '\n',
        );
        const t0 = process.hrtime.bigint();
        // Asynchronous on purpose: the emulator serves from this process's event loop.
        const result = await runChild([BIN, 'run', 'jobs/blog-hero-images.yaml', '--yes'], dir);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        if (result.code !== 0) throw new Error(`demo run failed (exit ${result.code}): ${result.stderr.slice(-500)}`);
        figures.push(289 / seconds);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await emulator.close();
  }
  const sorted = [...figures].sort((a, b) => a - b);
  return {
    scenario: 'demo job, zero-latency emulator, no quota (CLI process, 289 items x 2 steps)',
    runs,
    items_per_second_median: Number((sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)),
    items_per_second_all: figures.map((f) => f.toFixed(1)).join(', '),
  };
}
