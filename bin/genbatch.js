#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`; `npm ci` and `npm install` in a clone build it too):
// the bundle dist/cli/genbatch.cjs (scripts/bundle-cli.js) from a V8 code cache when it can, else the ES
// modules of dist/cli/entry.js. Compiling the bundle anew each time took ~50 ms more of every command
// (npm run bench startup). The cache is a file in a folder of the user's own, made by the first command
// that finds none (or one that no longer fits the bundle or this Node).
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
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

/**
 * The user's own cache folder ($XDG_CACHE_HOME, else ~/.cache), never the shared temp folder: code
 * that V8 runs is read from it, so no one else may be able to put a file there.
 */
function cacheFolder() {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'genbatch-code-cache');
}

/** Whether `path` is a real folder or file (not a link) of this user that no one else can write. */
function ownedPrivately(path, kind) {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (!stat || (kind === 'dir' ? !stat.isDirectory() : !stat.isFile())) return false;
  // Where there are no uids (Windows), the folder is under the user's own profile.
  if (typeof process.getuid !== 'function') return true;
  return stat.uid === process.getuid() && (stat.mode & 0o022) === 0;
}

/** Where this bundle's code cache is kept: named by the install, the bundle's size and time, and this Node. */
function cacheFileFor(stat) {
  const key = `${installTag(bundle)}-${stat.size}-${Math.round(stat.mtimeMs)}-${process.version}-${process.arch}`.replace(/[^\w.-]/g, '_');
  return join(cacheFolder(), `${key}.bin`);
}

function readCache(file) {
  try {
    return ownedPrivately(dirname(file), 'dir') && ownedPrivately(file, 'file') ? readFileSync(file) : undefined;
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
    if (!ownedPrivately(dir, 'dir')) return;
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, data, { mode: 0o600, flag: 'wx' });
    renameSync(temp, file);
    const earlier = `${installTag(bundle)}-`;
    for (const name of readdirSync(dir))
      if (name.startsWith(earlier) && name.endsWith('.bin') && join(dir, name) !== file) rmSync(join(dir, name), { force: true });
  } catch {
    // A read-only or full disk: the next command compiles the bundle again.
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
