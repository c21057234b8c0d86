/**
 * Global setup (vitest.config.ts): builds dist/ as `npm run build` does before any test runs, because the tests that
 * spawn the CLI run bin/genbatch.js, which runs dist/ (the bundle dist/cli/genbatch.cjs). `tsc -b` is incremental
 * (dist/.tsbuildinfo): with no source changed since the last build it only compares timestamps and takes a fraction of
 * a second; the bundle is always made again (about a second). In watch mode it rebuilds before each rerun.
 *
 * Type errors do not stop the tests: tsc still writes the JavaScript of the current sources, and `npm run typecheck`
 * (the first step of `npm test`) is what fails on them. Anything else (tsc crashing, no entry point written) does.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function run(args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(process.execPath, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${stdout}${stderr}` };
  }
}

function build(): void {
  const tsc = run([TSC, '-b', 'tsconfig.build.json']);
  const assets = run([join(REPO, 'scripts', 'copy-assets.js')]);
  if (!assets.ok) throw new Error(`copying src/ data files into dist/ failed:\n${assets.output}`);
  if (!existsSync(join(REPO, 'dist', 'cli', 'entry.js'))) throw new Error(`the build wrote no dist/cli/entry.js:\n${tsc.output}`);
  // The bundle bin/genbatch.js runs, made again every time from what tsc just wrote: one left by an
  // earlier `npm run build` would run old code in every end-to-end test.
  const bundle = run([join(REPO, 'scripts', 'bundle-cli.js')]);
  if (!bundle.ok) throw new Error(`bundling the CLI (scripts/bundle-cli.js) failed:\n${bundle.output}`);
  if (!tsc.ok) {
    console.warn(`warning: tsc reported errors; the CLI tests run the JavaScript it wrote anyway (npm run typecheck fails on them):\n${tsc.output}`);
  }
}

// Both projects (unit, e2e) inherit this setup, each loading its own copy of this module: the first one builds.
const BUILT = Symbol.for('genbatch.test.built');
const shared = globalThis as { [BUILT]?: boolean };

export default function setup(project: TestProject): void {
  if (shared[BUILT]) return;
  shared[BUILT] = true;
  build();
  project.onTestsRerun(() => build());
}
