/* eslint-disable no-control-regex -- the assertions are about terminal escape codes */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { BIN, runCli } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

/** Runs the CLI under a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function runInPty(args: string[]): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
      env: { ...process.env, COLUMNS: '160', TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('progress', () => {
  it('on a terminal: a live view per step that updates and finishes cleanly', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 60 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'tty-a' }, { name: 'tty-b' }]);
    const job = writeJob(dir, { items: 30, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 3 }' });
    const { code, output } = await runInPty(['run', job, '--yes']);
    expect(code).toBe(0);
    // Frames redraw in place (cursor movement), and the counts climb to the end.
    expect(output).toMatch(/\x1b\[\d*A/);
    const briefCounts = [...output.matchAll(/brief\s+\|[^|]*\| (\d+)\/30/g)].map((m) => Number(m[1]));
    expect(new Set(briefCounts).size).toBeGreaterThan(2);
    expect(briefCounts.at(-1)).toBe(30);
    expect(output).toMatch(/hero\s+\|[^|]*\| 30\/30/);
    expect(output).toMatch(/tty-a: active \d+ req \| tty-b: active \d+ req/);
    expect(output).toMatch(/ended: finished \(exit 0\)/);
    expect(output).toMatch(/\x1b\[\?25h/); // the cursor is given back
  });

  it('without a terminal: plain progress lines, no escape codes', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 10 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'p' }]);
    const job = writeJob(dir, { items: 40, steps: BRIEF_STEP, limits: '{ concurrency: 4 }' });
    const result = await runCli(['run', job, '--yes']);
    expect(result.code).toBe(0);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('progress: '));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.at(-1)).toMatch(/progress: 40\/40 steps, 0 failed, [\d.]+ steps\/s, ETA 0s, spent this run \$[\d.]+/);
    expect(result.stderr).not.toMatch(/\x1b\[/);
  });
});
