#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`; `npm ci` and `npm install` in a clone build it too).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/entry.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('genbatch: the compiled CLI (dist/cli/entry.js) is missing; run `npm run build` in the genbatch folder first.');
  process.exit(1);
}
await import(entry.href);
