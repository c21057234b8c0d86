import { once } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { StateStore } from '../../src/store/state-store.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';

/**
 * The corpus of bad input (test/fixtures/bad-input/): one folder per case, each a job, credentials
 * and input files broken in one place, with case.yaml saying what is wrong and what stderr must name.
 * Every case is copied to a temp folder and run through the real CLI against an emulator. A refusal
 * must exit 2, name the file and the line or key, print no stack trace, send nothing (0 requests at
 * the emulator) and write nothing. Cases that are valid by design (`valid: true`) must exit 0.
 *
 * case.yaml:
 *   why: one line saying what is wrong
 *   args: [run, job.yaml, --yes]        # optional (the default); paths relative to the case folder
 *   mentions: ["job.yaml:7", "concurrency"]   # strings stderr must contain
 *   valid: false                        # true: valid by design, exit 0 expected
 *   generate:                           # optional: large inputs built here, not committed
 *     - { file: posts.csv, recipe: wide-csv, columns: 100000, rows: 3 }
 *
 * `{{endpoint}}` in any file of a case is replaced with the URL of a running emulator.
 */

const CASES_DIR = fileURLToPath(new URL('../fixtures/bad-input/', import.meta.url));
const DEFAULT_ARGS = ['run', 'job.yaml', '--yes'];
/** Cases run at once, each against an emulator of its own slot (so its requests are its own). */
const PARALLEL = 4;
/** Lines of a stack trace, or the CLI's words for a crash. */
const CRASH = /^\s+at .+[(\s].*:\d+:\d+\)?$|This is a bug|crashed|Unhandled|TypeError|ReferenceError|RangeError/m;

interface Recipe {
  file: string;
  recipe: 'wide-csv' | 'wide-jsonl' | 'long-cell' | 'state-file';
  columns?: number;
  rows?: number;
  megabytes?: number;
  line?: number;
  quote?: 'open';
}

interface CorpusCase {
  name: string;
  why: string;
  args: string[];
  mentions: string[];
  valid: boolean;
  generate: Recipe[];
}

function loadCase(name: string): CorpusCase {
  const raw = parse(readFileSync(join(CASES_DIR, name, 'case.yaml'), 'utf8')) as Partial<CorpusCase> | null;
  return {
    name,
    why: raw?.why ?? '',
    args: raw?.args ?? DEFAULT_ARGS,
    mentions: raw?.mentions ?? [],
    valid: raw?.valid ?? false,
    generate: raw?.generate ?? [],
  };
}

const cases = readdirSync(CASES_DIR)
  .filter((name) => statSync(join(CASES_DIR, name)).isDirectory())
  .sort()
  .map(loadCase);

/** Large inputs, written at test time from their recipe. */
function generate(dir: string, recipe: Recipe): void {
  const file = join(dir, recipe.file);
  const jsonl = recipe.file.endsWith('.jsonl');
  switch (recipe.recipe) {
    case 'wide-csv': {
      const columns = recipe.columns ?? 3;
      const extra = (prefix: string): string => Array.from({ length: columns - 2 }, (_, i) => `${prefix}${i + 3}`).join(',');
      const rows = Array.from({ length: recipe.rows ?? 3 }, (_, r) => `Title ${r},slug-${r},${extra('v')}`);
      writeFileSync(file, [`title,slug,${extra('c')}`, ...rows, ''].join('\n'));
      return;
    }
    case 'wide-jsonl': {
      const columns = recipe.columns ?? 3;
      const rows = Array.from({ length: recipe.rows ?? 2 }, (_, r) => {
        const object: Record<string, string> = { title: `Title ${r}`, slug: `slug-${r}` };
        for (let i = 3; i <= columns; i++) object[`k${i}`] = `v${i}`;
        return JSON.stringify(object);
      });
      writeFileSync(file, `${rows.join('\n')}\n`);
      return;
    }
    case 'long-cell': {
      const size = Math.round((recipe.megabytes ?? 1) * 1024 * 1024);
      const line = recipe.line ?? 2;
      const long = Buffer.alloc(size, 'x');
      const parts: Buffer[] = [];
      for (let l = 1; l <= Math.max(line, 1) + 2; l++) {
        if (l === line) {
          if (jsonl) parts.push(Buffer.from('{"title": "'), long, Buffer.from(`", "slug": "long"}\n`));
          else if (recipe.quote === 'open') parts.push(Buffer.from('"'), long, Buffer.from(',long\n'));
          else parts.push(long, Buffer.from(l === 1 ? ',slug\n' : ',long\n'));
        } else if (jsonl) parts.push(Buffer.from(`{"title": "Title ${l}", "slug": "slug-${l}"}\n`));
        else parts.push(Buffer.from(l === 1 ? 'title,slug\n' : `Title ${l},slug-${l}\n`));
      }
      writeFileSync(file, Buffer.concat(parts));
      return;
    }
    case 'state-file': {
      // A genbatch state file (SQLite), built here: state files are never committed.
      StateStore.open(file).close();
      return;
    }
  }
}

/** Every file under `dir`, relative to it. */
function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

const MARKER = Buffer.from('{{endpoint}}');

function replaceEndpoint(dir: string, url: string): void {
  for (const name of listFiles(dir)) {
    const bytes = readFileSync(join(dir, name));
    if (bytes.indexOf(MARKER) < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = bytes.indexOf(MARKER); at >= 0; at = bytes.indexOf(MARKER, from)) {
      parts.push(bytes.subarray(from, at), Buffer.from(url));
      from = at + MARKER.length;
    }
    parts.push(bytes.subarray(from));
    writeFileSync(join(dir, name), Buffer.concat(parts));
  }
}

/**
 * An emulator behind a proxy that counts every HTTP request, whatever its path: a refusal must send
 * nothing at all, not just no billed call.
 */
interface CountingEndpoint {
  url: string;
  requests: number;
  close(): Promise<void>;
}

async function startCountingEndpoint(): Promise<CountingEndpoint> {
  const emulator: TestEmulator = await startTestEmulator();
  const upstream = new URL(emulator.url);
  const endpoint = { url: '', requests: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    endpoint.requests += 1;
    const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  endpoint.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await emulator.close();
  };
  return endpoint;
}

/** PARALLEL slots, each with its endpoint; a case holds one for its whole run. */
const free: CountingEndpoint[] = [];
const waiting: ((slot: CountingEndpoint) => void)[] = [];

async function withSlot<T>(use: (slot: CountingEndpoint) => Promise<T>): Promise<T> {
  const slot = free.pop() ?? (await new Promise<CountingEndpoint>((resolve) => waiting.push(resolve)));
  try {
    return await use(slot);
  } finally {
    const next = waiting.shift();
    if (next) next(slot);
    else free.push(slot);
  }
}

/** A key path (`input.file`, `steps[0].name`, `projects[0].quotas.default.rpm`) or a bare key. */
const KEY = /^[A-Za-z_][\w-]*((\.[\w.-]+)|(\[\d+\]))*$/;

describe('the corpus of bad input', () => {
  const slots: CountingEndpoint[] = [];
  beforeAll(async () => {
    for (let i = 0; i < PARALLEL; i++) slots.push(await startCountingEndpoint());
    free.push(...slots);
  });
  afterAll(async () => {
    await Promise.all(slots.map((slot) => slot.close()));
  });

  it('holds at least 60 cases, each saying why; refusals name a file and a line or key, and some cases are valid by design', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    const refusals = cases.filter((c) => !c.valid);
    expect(refusals.length).toBeGreaterThanOrEqual(60);
    expect(cases.filter((c) => c.valid).length).toBeGreaterThan(0);
    for (const c of cases) {
      expect(c.why, `${c.name}: why`).not.toBe('');
      if (c.valid) continue;
      const files = [...readdirSync(join(CASES_DIR, c.name)), ...c.generate.map((g) => g.file), ...c.args.map((a) => basename(a))].filter(
        (f) => f !== 'case.yaml' && f.includes('.'),
      );
      expect(
        c.mentions.some((m) => files.some((f) => m.includes(f) || m.includes(f.replace(/\.[^.]+$/, '')))),
        `${c.name}: a mention names one of its files`,
      ).toBe(true);
      expect(
        c.mentions.some((m) => /:\d+|\bline \d+/.test(m) || KEY.test(m)),
        `${c.name}: a mention names a line or a key`,
      ).toBe(true);
    }
  });

  it.concurrent.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const dir = mkdtempSync(join(tmpdir(), `genbatch-corpus-${c.name}-`));
    try {
      cpSync(join(CASES_DIR, c.name), dir, { recursive: true, filter: (source) => basename(source) !== 'case.yaml' });
      for (const recipe of c.generate) generate(dir, recipe);
      await withSlot(async (slot) => {
        replaceEndpoint(dir, slot.url);
        const before = listFiles(dir);
        const requestsBefore = slot.requests;
        const started = Date.now();
        const result = await runCli(c.args, { cwd: dir, env: { GENBATCH_CORPUS_UNSET_KEY: '' } });
        const seconds = (Date.now() - started) / 1000;
        const shown = `${c.name} (${c.why}), ${seconds.toFixed(1)} s:\n${result.stderr.slice(0, 4000)}`;
        expect(result.stderr, shown).not.toMatch(CRASH);
        expect(result.code, shown).toBe(c.valid ? 0 : 2);
        for (const mention of c.mentions) expect(result.stderr, shown).toContain(mention);
        if (c.valid) return;
        expect(slot.requests - requestsBefore, `${shown}\nrequests at the emulator`).toBe(0);
        expect(
          listFiles(dir).map((f) => relative(dir, join(dir, f))),
          `${shown}\nfiles written`,
        ).toEqual(before);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
