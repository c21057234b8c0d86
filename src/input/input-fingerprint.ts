import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Job } from '../job/job.js';
import type { JobMeta } from '../store/interfaces/job-meta.js';
import { openStateToRead } from '../store/open-state.js';
import { inputOptionsOf } from './input-options.js';

/**
 * What the input file was when it was last read: its size, modification time and a SHA-256 of its
 * whole content. The content hash decides (size and time are kept for people reading the state):
 * an edit that keeps the size and the time (`cp -p`, `rsync -a`, a tool restoring mtimes) is still
 * seen, and a `touch` alone does not force a resync. Hashing streams the file: an 82 MB file takes a
 * few tenths of a second, far less than parsing it.
 */
export interface InputFingerprint {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export async function fingerprintInput(file: string): Promise<InputFingerprint> {
  const handle = await open(file, 'r');
  try {
    const info = await handle.stat();
    const hash = createHash('sha256');
    // One buffer, read into again and again: hashing a big file leaves no garbage behind.
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    return { size: info.size, mtimeMs: info.mtimeMs, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

const digest = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);

/** Bump when what a sync writes changes: state files synced by older code are then synced again. */
const SYNC_VERSION = 1;
/** Bump when prepareJob checks more (or differently): inputs validated by older code are then checked again. */
const VALIDATION_VERSION = 2;
/** Bump when what a step's request hash covers changes (renderStep): every done item is then judged again. */
const STALENESS_VERSION = 1;

/** The input as the state holds it: the file's content, how it is read, and the steps every item has a row for. */
export function syncKey(job: Job, fingerprint: InputFingerprint): string {
  return digest({ v: SYNC_VERSION, sha256: fingerprint.sha256, input: inputOptionsOf(job), id: job.input.id, steps: job.steps.map((s) => s.name) });
}

/** Everything prepareJob's pass over the rows depends on: the content, how it is read, and the templates it renders. */
export function validationKey(job: Job, fingerprint: InputFingerprint): string {
  return digest({
    v: VALIDATION_VERSION,
    sha256: fingerprint.sha256,
    input: inputOptionsOf(job),
    id: job.input.id,
    // The model, system prompt and schema decide the context-window check (estimate/context-window.ts).
    steps: job.steps.map((s) => [s.name, s.prompt, s.output?.file ?? null, s.model, s.system ?? null, s.jsonSchema ?? null, s.params.auto_truncate ?? null]),
    prices: job.prices ?? null,
    styles: job.styles,
    outputDir: job.outputDir,
  });
}

/**
 * What a step's request hash depends on besides the item's row and earlier results: the steps (all
 * of each, so nothing renderStep hashes can be missed; a change elsewhere only costs a full check)
 * and the styles.
 */
export function stalenessKey(job: Job): string {
  return digest({ v: STALENESS_VERSION, steps: job.steps, styles: job.styles });
}

/** Meta keys in the state file. */
export const META = {
  /** The last complete sync: {key, rows, size, mtimeMs, sha256, at}. Removed while a sync is under way. */
  sync: 'input_sync',
  /** The last input prepareJob validated (and a run then synced): {key, rows}. */
  validated: 'input_validated',
  /** The stalenessKey of the job at the last complete staleness check. */
  staleBasis: 'stale_basis',
} as const;

export interface SyncRecord {
  key: string;
  rows: number;
  size: number;
  mtimeMs: number;
  sha256: string;
  at: string;
}

function parse<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export function lastSync(store: Pick<JobMeta, 'getMeta'>): SyncRecord | undefined {
  return parse<SyncRecord>(store.getMeta(META.sync));
}

export function lastValidation(store: Pick<JobMeta, 'getMeta'>): { key: string; rows: number } | undefined {
  return parse<{ key: string; rows: number }>(store.getMeta(META.validated));
}

/**
 * The row count prepareJob found when it last validated this very input (same validation key), read
 * from the state file without opening it for writing; undefined when there is none, or no state file.
 */
export function validatedRows(stateFile: string, key: string): number | undefined {
  if (!existsSync(stateFile)) return undefined;
  try {
    const store = openStateToRead(stateFile);
    try {
      const last = lastValidation(store);
      return last?.key === key ? last.rows : undefined;
    } finally {
      store.close();
    }
  } catch {
    return undefined; // unreadable or from another version: validate again
  }
}
