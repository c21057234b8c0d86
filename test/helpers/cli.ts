import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/genbatch.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Whether Debian's faketime (libfaketime) is installed (.ci/run installs it). */
export const faketimeInstalled = spawnSync('faketime', ['-f', '+0', 'true'], { stdio: 'ignore' }).status === 0;

/**
 * Starts the real CLI as a child process (the way users and cron run it). `clock`: a libfaketime
 * offset (`+2h`, `-10m`) the process's clock runs at, as on a host whose clock is off.
 */
export function spawnCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; clock?: string } = {},
): ChildProcess & { output: Promise<CliResult> } {
  const [command, commandArgs] =
    options.clock === undefined ? [process.execPath, [BIN, ...args]] : ['faketime', ['-f', options.clock, process.execPath, BIN, ...args]];
  const child = spawn(command, commandArgs, {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin?.end();
  const output = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return Object.assign(child, { output });
}

export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; clock?: string } = {}): Promise<CliResult> {
  return spawnCli(args, options).output;
}

/** A double Ctrl-C: the second SIGINT once the run has taken the first (it says so), not after a guessed delay. */
export async function interruptTwice(child: ChildProcess): Promise<void> {
  const stopping = new Promise<void>((resolve) => {
    let seen = '';
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (/Stopping: no new items/.test(seen)) resolve();
    });
  });
  child.kill('SIGINT');
  await stopping;
  child.kill('SIGINT');
}
