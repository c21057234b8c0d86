import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterEach } from 'vitest';
import { parseEmulatorConfig, startEmulator, type EmulatorConfigInput, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { posts } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

/**
 * One task kind end to end: an emulator started in the test, a job whose credentials point at it,
 * and the real CLI as a child process.
 */

export interface StatusJson {
  job: string;
  total: number;
  counts: Record<string, number>;
  steps: Record<string, Record<string, number>>;
  cost_usd: number;
  requests: number;
  failures: { id: string; step: string; error: string; message: string }[];
  last_run: { outcome: string; exit_code: number } | null;
}

export interface TaskJob {
  dir: string;
  job: string;
  emulator: RunningEmulator;
  out: (...parts: string[]) => string;
  run: (...flags: string[]) => Promise<CliResult>;
  status: () => Promise<StatusJson>;
  /** Billed calls the emulator received for a model (countTokens and operation polls are free). */
  calls: (model: string) => number;
}

export function useTaskJobs(): (options: {
  steps: string;
  rows?: Record<string, string>[];
  items?: number;
  id?: string;
  extra?: string;
  emulator?: EmulatorConfigInput;
}) => Promise<TaskJob> {
  const tempDir = useTempDir();
  const running: RunningEmulator[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((e) => e.close()));
  });
  return async (options) => {
    const emulator = await startEmulator(parseEmulatorConfig({ seed: 17, latency_ms: 0, ...options.emulator }), { port: 0 });
    running.push(emulator);
    const dir = tempDir();
    const rows = options.rows ?? posts(options.items ?? 3).map((p) => ({ ...p }));
    writeFileSync(join(dir, 'input.csv'), stringify(rows, { header: true }));
    writeFileSync(
      join(dir, 'credentials.yaml'),
      `projects:\n  - { name: studio, project: studio, location: us-central1, api_key: test-key, endpoint: "${emulator.url}" }\n`,
    );
    const job = join(dir, 'job.yaml');
    writeFileSync(
      job,
      `version: 1
name: task-job
input: { file: input.csv, id: ${options.id ?? 'slug'} }
credentials: credentials.yaml
steps:
${options.steps}
limits: { concurrency: 4, max_attempts: 3 }
${options.extra ?? ''}`,
    );
    return {
      dir,
      job,
      emulator,
      out: (...parts) => join(dir, 'out', ...parts),
      run: (...flags) => runCli(['run', job, '--yes', ...flags]),
      status: async () => {
        const result = await runCli(['status', job, '--json']);
        if (result.code !== 0 && result.code !== 1) throw new Error(`status exited ${result.code}: ${result.stderr}`);
        return JSON.parse(result.stdout) as StatusJson;
      },
      calls: (model) => emulator.log().filter((entry) => entry.model === model).length,
    };
  };
}
