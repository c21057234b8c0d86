import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { spawnCli } from '../helpers/cli.js';
import { BRIEF_STEP, stateCounts, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('credentials hot swap', () => {
  it('a project added mid-run takes calls within 5 s; a removed one gets none after the reload; nothing in flight is lost', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: { min: 30, max: 60 } }), { port: 0 });
    const dir = tempDir();
    const credentials = join(dir, 'credentials.yaml');
    const slow = '{ default: { requests: 5, window: 1s } }';
    writeCredentials(credentials, emulator.url, [{ name: 'first', quotas: slow }]);
    const job = writeJob(dir, { items: 80, steps: BRIEF_STEP, limits: '{ concurrency: 4, max_attempts: 3 }' });
    const child = spawnCli(['run', job]);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const ok = (project: string) => emulator!.log().filter((r) => r.project === project && r.status === 200).length;

    await waitUntil(() => ok('first') >= 5);
    const addedAt = Date.now();
    writeCredentials(credentials, emulator.url, [
      { name: 'first', quotas: slow },
      { name: 'second', quotas: slow },
    ]);
    await waitUntil(() => ok('second') >= 1, 10_000);
    const firstSecondCall = emulator.log().find((r) => r.project === 'second');
    console.log(`hot swap: the added project got its first call ${(firstSecondCall?.at ?? Infinity) - addedAt} ms after the file was written`);
    expect((firstSecondCall?.at ?? Infinity) - addedAt).toBeLessThan(5000);
    expect(stderr).toMatch(/credentials reloaded: added second/);

    writeCredentials(credentials, emulator.url, [{ name: 'second', quotas: slow }]);
    await waitUntil(() => /credentials reloaded: removed first/.test(stderr), 10_000);
    const reloadSeenAt = Date.now();
    const result = await child.output;
    expect(result.code).toBe(0);
    // Calls already on the wire may land just after the reload; none may start after it.
    const late = emulator.log().filter((r) => r.project === 'first' && r.at > reloadSeenAt + 200);
    expect(late).toEqual([]);
    expect(stateCounts(join(dir, '.genbatch', 'quota-job.db'))).toEqual({ done: 80 });
    // No call lost or doubled: one successful call per item.
    expect(emulator.log().filter((r) => r.status === 200)).toHaveLength(80);
  });

  it('an invalid edit is reported and ignored: the run goes on with the projects it had', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 20 }), { port: 0 });
    const dir = tempDir();
    const credentials = join(dir, 'credentials.yaml');
    writeCredentials(credentials, emulator.url, [{ name: 'only', quotas: '{ default: { requests: 10, window: 1s } }' }]);
    const job = writeJob(dir, { items: 30, steps: BRIEF_STEP, limits: '{ concurrency: 2, max_attempts: 3 }' });
    const child = spawnCli(['run', job]);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntil(() => emulator!.log().length >= 3);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(credentials, 'projects:\n  - { name: only, projekt: x }\n');
    const result = await child.output;
    expect(stderr).toMatch(/credentials file changed but is not valid; keeping the projects in use/);
    expect(result.code).toBe(0);
  });
});
