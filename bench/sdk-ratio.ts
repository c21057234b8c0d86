import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseEmulatorConfig, startEmulator } from '../src/emulator/index.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'genbatch.js');
const ITEMS = 3000;

/** Wall time of a child process (asynchronous: the emulator answers from this process's event loop). */
export function timed(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ seconds: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, code, stdout, stderr }));
  });
}

export function writeGenbatchJob(dir: string, url: string, concurrency: number, items = ITEMS, name = 'sdk-ratio'): string {
  const rows = Array.from({ length: items }, (_, i) => `item-${i},topic ${i}`);
  writeFileSync(join(dir, 'input.csv'), `id,topic\n${rows.join('\n')}\n`);
  writeFileSync(join(dir, 'credentials.yaml'), `projects:\n  - { name: bench, project: bench, location: us-central1, api_key: bench, endpoint: "${url}" }\n`);
  writeFileSync(
    join(dir, `${name === 'sdk-ratio' ? 'job' : name}.yaml`),
    `version: 1
name: ${name}
input: { file: input.csv, id: id }
credentials: credentials.yaml
steps:
  - name: note
    task: text
    model: gemini-2.5-flash
    prompt: "Write a short note about {{topic}}."
    output: { file: "notes/{{id}}.txt" }
limits: { concurrency: ${concurrency} }
`,
  );
  return join(dir, `${name === 'sdk-ratio' ? 'job' : name}.yaml`);
}

/**
 * genbatch against the bare SDK: 3,000 text items, one output file each, on a zero-latency emulator
 * with no quota, at concurrency 16 and 64. All are whole processes timed from spawn to exit. Also
 * the emulator's own capacity (raw HTTP), so it is known not to be the limit.
 *
 * Two yardsticks: the bare SDK as a hand-written script uses it (Node's global fetch), which is
 * `ratio_cN`; and the bare SDK given genbatch's own HTTP client (src/providers/http-fetch.ts),
 * `ratio_same_http_cN`, which leaves only genbatch's own work (state, outputs, cache, logs) in the
 * difference.
 */
export async function sdkRatio(): Promise<Record<string, string | number>> {
  const emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
  const figures: Record<string, string | number> = { scenario: `${ITEMS} text items with one output file each, zero-latency emulator, no quota` };
  // Removed at the end, not between rounds: on ext4 without a journal, files created soon after
  // thousands were deleted cost about 0.4 ms each, which would load the second round.
  const dirs: string[] = [];
  try {
    const capacity = await timed([join(REPO, 'bench', 'emulator-capacity.mjs'), emulator.url, '6000', '64'], REPO);
    figures.emulator_requests_per_second = (JSON.parse(capacity.stdout) as { requests_per_second: number }).requests_per_second;
    for (const concurrency of [16, 64]) {
      const dir = mkdtempSync(join(tmpdir(), 'genbatch-ratio-'));
      dirs.push(dir);
      const bare = await timed([join(REPO, 'bench', 'bare-sdk.mjs'), emulator.url, String(ITEMS), String(concurrency), join(dir, 'bare')], REPO);
      if (bare.code !== 0) throw new Error(`bare SDK script failed: ${bare.stderr.slice(-500)}`);
      const sameHttp = await timed(
        [join(REPO, 'bench', 'bare-sdk.mjs'), emulator.url, String(ITEMS), String(concurrency), join(dir, 'bare-same-http'), 'genbatch-http'],
        REPO,
      );
      if (sameHttp.code !== 0) throw new Error(`bare SDK script (genbatch's HTTP client) failed: ${sameHttp.stderr.slice(-500)}`);
      const job = writeGenbatchJob(dir, emulator.url, concurrency);
      // A response cache of its own (empty): every item is a call, as on a first run.
      const run = await timed([BIN, 'run', job, '--yes', '--plain'], dir, { GENBATCH_CACHE_DIR: join(dir, 'cache') });
      if (run.code !== 0) throw new Error(`genbatch run failed (exit ${run.code}): ${run.stderr.slice(-500)}`);
      figures[`bare_sdk_s_c${concurrency}`] = Number(bare.seconds.toFixed(2));
      figures[`genbatch_s_c${concurrency}`] = Number(run.seconds.toFixed(2));
      figures[`ratio_c${concurrency}`] = Number((run.seconds / bare.seconds).toFixed(2));
      figures[`bare_sdk_same_http_s_c${concurrency}`] = Number(sameHttp.seconds.toFixed(2));
      figures[`ratio_same_http_c${concurrency}`] = Number((run.seconds / sameHttp.seconds).toFixed(2));
      figures[`genbatch_items_per_second_c${concurrency}`] = Math.round(ITEMS / run.seconds);
    }
  } finally {
    await emulator.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}
