#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`; `npm ci` and `npm install` in a clone build it too):
// the bundle dist/cli/genbatch.cjs (scripts/bundle-cli.js) from a V8 code cache when it can, else the ES
// modules of dist/cli/entry.js. Compiling the bundle anew each time took ~120 ms of every command; from
// the cache, ~60 ms. The cache is a file per user under the temp folder, made by the first command that
// finds none (or one that no longer fits the bundle or this Node).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('../dist/cli/genbatch.cjs', import.meta.url));
const entry = new URL('../dist/cli/entry.js', import.meta.url);

/** A short name for this install's bundle (two installs on one machine keep a cache each). */
function installTag(path) {
  let hash = 5381;
  for (let i = 0; i < path.length; i += 1) hash = (hash * 33 + path.charCodeAt(i)) >>> 0;
  return hash.toString(36);
}

/** Where this bundle's code cache is kept: named by the install, the bundle's size and time, and this Node. */
function cacheFileFor(stat) {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const key = `${installTag(bundle)}-${stat.size}-${Math.round(stat.mtimeMs)}-${process.version}-${process.arch}`.replace(/[^\w.-]/g, '_');
  return join(tmpdir(), `genbatch-code-cache-${uid}`, `${key}.bin`);
}

function readCache(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Written whole or not at all (another command may be reading it), replacing the caches of this
 * install's earlier builds; any failure just means no cache.
 */
function writeCache(file, data) {
  try {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, data, { mode: 0o600 });
    renameSync(temp, file);
    const earlier = `${installTag(bundle)}-`;
    for (const name of readdirSync(dir))
      if (name.startsWith(earlier) && name.endsWith('.bin') && join(dir, name) !== file) rmSync(join(dir, name), { force: true });
  } catch {
    // A read-only or full temp folder: the next command compiles the bundle again.
  }
}

function runBundle() {
  const stat = statSync(bundle);
  const cacheFile = cacheFileFor(stat);
  const cachedData = readCache(cacheFile);
  const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  // After the first turn of the CLI, so the functions it compiled are in the cache too.
  if (!cachedData || script.cachedDataRejected) writeCache(cacheFile, script.createCachedData());
}

if (existsSync(bundle)) runBundle();
else if (existsSync(entry)) await import(entry.href);
else {
  console.error('genbatch: the compiled CLI (dist/cli/) is missing; run `npm run build` in the genbatch folder first.');
  process.exit(1);
}
