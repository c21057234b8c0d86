/* eslint-disable no-control-regex -- the assertions are about terminal escape codes */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { BIN } from '../helpers/cli.js';
import { BRIEF_STEP, IMAGE_STEP, writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI in a pseudo-terminal of `columns` columns (util-linux `script`; `stty` sets the size). */
function runInPty(args: string[], columns: number): Promise<{ code: number | null; output: string }> {
  const command = `stty cols ${columns} rows 40; ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  return new Promise((resolve) => {
    const child = spawn('script', ['-q', '-f', '-e', '-c', command, '/dev/null'], { env: { ...process.env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** What the terminal was asked to print on each line, escape codes removed. */
const screenLines = (output: string): string[] =>
  output
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n')
    .split(/\r?\n|\r/)
    .filter((l) => l.trim() !== '');

async function liveRun(columns: number): Promise<{ code: number | null; output: string; lines: string[] }> {
  // Titles naming Kubernetes are filtered by the emulator's safety check: long messages to print above the bars.
  emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 40, blocked_terms: ['Kubernetes'] }), { port: 0 });
  const dir = tempDir();
  writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'live-view-project-a' }, { name: 'live-view-project-b' }]);
  const job = writeJob(dir, { items: 30, steps: BRIEF_STEP + IMAGE_STEP, limits: '{ concurrency: 3 }' });
  const { code, output } = await runInPty(['run', job, '--yes'], columns);
  return { code, output, lines: screenLines(output) };
}

describe('the live view in a terminal', () => {
  for (const columns of [80, 160]) {
    it(`at ${columns} columns: the header, whole messages on their own lines, this run's spend against this run's estimate`, async () => {
      const { code, output, lines } = await liveRun(columns);
      expect(code).toBe(0); // filtered items are an outcome, not failures: "finished"
      // The run header appears, before the bars.
      // (At 80 columns it is wrapped onto two lines, at a space.)
      const text = lines.join(' ');
      expect(text).toMatch(/Run \S+: 30 of 30 items have work left \(steps: brief → hero\)\. /);
      expect(text.indexOf('items have work left')).toBeLessThan(text.search(/brief\s+\|/));
      // Nothing is wider than the terminal while the bars are up: they turn line wrapping off
      // (\x1b[?7l) until they stop (\x1b[?7h), so a longer line would be cut.
      const whileBars = screenLines(output.slice(output.indexOf('\x1b[?7l'), output.lastIndexOf('\x1b[?7h')));
      expect(whileBars.length).toBeGreaterThan(10);
      const wide = whileBars.filter((l) => l.length > columns);
      expect(wide).toEqual([]);
      // Messages are whole, and never share a line with a bar.
      const filtered = lines.filter((l) => l.startsWith('filtered: item "kubernetes-'));
      expect(filtered.length).toBeGreaterThanOrEqual(3);
      for (const l of filtered) expect(l).not.toMatch(/[█░]/);
      // The end line is whole (wrapped at spaces, never cut).
      expect(text).toMatch(/Run \S+ ended: [^|█]*?\(exit 0\) in \d/);
      // The cost line: this run's spend against this run's estimate.
      expect(output).toMatch(/spent this run \$\d+\.\d+ of ~\$\d+\.\d+ estimated/);
      // ETAs are shown rounded as a person reads them.
      const etas = [...lines.join('\n').matchAll(/ETA (\S+)/g)].map((m) => m[1]);
      expect(etas.length).toBeGreaterThan(3);
      for (const eta of etas) expect(eta).toMatch(/^(\d+s|\d+m\d\ds|\d+m|\d+h\d\dm|\?)$/);
      if (columns === 160) expect(output).toMatch(/live-view-project-a: active \d+ req \| live-view-project-b: active \d+ req/);
    });
  }
});
