import { opendirSync, rename as renameCallback, unlink as unlinkCallback, unlinkSync, writeFile as writeFileCallback } from 'node:fs';
import { mkdir, open, readdir, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { OutputFolders } from './output-folders.js';
import { pieceWriter, type PieceWriter } from './stream-file.js';
import { processAlive } from '../store/process-alive.js';
import { TEMP_NAME, tempPathFor, utf8Exceeds } from '../files/temp-path.js';
import { writeThenRename } from './write-then-rename.js';

export { removeTemp, tempPathFor } from '../files/temp-path.js';

/**
 * The one way genbatch writes a file (outputs, results, embeddings, .npy, the review page, metrics,
 * the state backup): a temp file in the target's own folder, then a rename. The file appears whole
 * or not at all, and since the temp file is on the target's file system the rename can never fail
 * with EXDEV (a results file or output folder on another disk than the state).
 *
 * Temp files are named `.<name>.<pid>.<8 hex>.tmp`: hidden, and recognisable, so that a run after
 * one that was killed mid-write removes exactly those (removeTempLeftovers), never a person's file.
 *
 * There is no fsync per file: a rename after a complete write is safe against the death of the
 * process, which is what happens in practice. Only an operating-system crash can lose a file the
 * state already calls done; a resume checks the outputs of done steps and redoes missing or empty
 * ones (see redoMissingOutputs).
 */

// The callback forms, promisified, for outputs too large to write synchronously: fs/promises'
// FileHandle (open, write, close as three steps and an object each) costs about a third more CPU.
const writeFileQuick = promisify(writeFileCallback);
const renameQuick = promisify(renameCallback);
const unlinkQuick = promisify(unlinkCallback);

/**
 * Outputs up to this size are written with synchronous calls, on the main thread, while the file
 * system answers fast. A run writes hundreds of small outputs a second, and each asynchronous step
 * (open, write, close, rename) is a round trip to libuv's thread pool that wakes two threads; on a
 * busy two-core machine those wake-ups cost more than the write (3,000 notes: about 0.6 s less wall
 * time). Larger files (images, video) go through the thread pool, so the event loop never waits on a
 * big write. (A worker thread of their own for the small writes gained nothing beyond the bench's
 * noise, and was removed: issue 26.)
 */
const SYNC_WRITE_BYTES = 64 * 1024;
/**
 * A synchronous write holds up what else the main thread does (replies, timers). When they average
 * more than this (network storage, a busy disk), writes go to the thread pool instead, which makes
 * several at once, with a synchronous one now and then to notice when the file system is quick again.
 */
const SLOW_SYNC_WRITE_MS = 0.3;
const PROBE_EVERY = 200;

/** Whether the next small write is synchronous (see SYNC_WRITE_BYTES and SLOW_SYNC_WRITE_MS). */
export class SyncWritePolicy {
  private averageMs = 0;
  private slow = false;
  private sinceProbe = 0;

  useSync(data: Buffer | string): boolean {
    if (typeof data === 'string' ? utf8Exceeds(data, SYNC_WRITE_BYTES) : data.length > SYNC_WRITE_BYTES) return false;
    if (!this.slow) return true;
    this.sinceProbe += 1;
    if (this.sinceProbe < PROBE_EVERY) return false;
    this.sinceProbe = 0;
    return true;
  }

  /** A synchronous write took `ms`. */
  record(ms: number): void {
    // A probe after a slow spell counts fully: one fast write is enough to try synchronous writes again.
    this.averageMs = this.slow ? ms : this.averageMs * 0.9 + ms * 0.1;
    this.slow = this.averageMs > SLOW_SYNC_WRITE_MS;
  }
}

/** Writes `fill`'s content to a temp file beside `target`, then renames it into place; on any failure the temp file is removed. */
async function writeThroughTemp(target: string, fill: (handle: FileHandle) => Promise<void>, options: { fsync?: boolean } = {}): Promise<void> {
  const temp = tempPathFor(target);
  try {
    const handle = await open(temp, 'wx');
    try {
      await fill(handle);
      if (options.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** Writes a whole file atomically (creating its folder). For files written outside a run: the review page, metrics. */
export async function writeFileAtomic(target: string, data: Buffer | string, options: { fsync?: boolean } = {}): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  await writeThroughTemp(target, (handle) => handle.writeFile(data), options);
}

/**
 * A run's writer: atomic writes, and a record of the folders it writes into (kept in the job's
 * scratch folder, see OutputFolders) so that a later run finds what a killed one left.
 */
export class AtomicWriter {
  private readonly folders: OutputFolders;
  /** Folders known to exist and recorded: one mkdir per folder per writer, not one per file. */
  private readonly ready = new Map<string, Promise<void>>();
  private readonly syncWrites = new SyncWritePolicy();

  constructor(private readonly scratchDir: string) {
    this.folders = new OutputFolders(scratchDir);
  }

  private ensureFolder(folder: string): Promise<void> {
    let ready = this.ready.get(folder);
    if (!ready) {
      // Recorded before the first temp file is made in it.
      ready = this.folders.add(folder).then(async () => void (await mkdir(folder, { recursive: true })));
      this.ready.set(folder, ready);
      ready.catch(() => this.ready.delete(folder));
    }
    return ready;
  }

  /** Removes temp files that earlier versions left in the scratch folder (they wrote there, not beside the target). */
  async clearScratch(): Promise<number> {
    let names: string[];
    try {
      names = (await readdir(this.scratchDir)).filter((name) => name.endsWith('.tmp'));
    } catch {
      return 0;
    }
    await Promise.all(names.map((name) => rm(join(this.scratchDir, name), { force: true })));
    return names.length;
  }

  /**
   * A write into a folder that is gone (deleted while the run wrote into it): the folder is made
   * again and the write tried once more.
   */
  private async againIfFolderGone(target: string, error: unknown, write: () => Promise<void>): Promise<void> {
    if ((error as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT') throw error;
    this.ready.delete(dirname(target));
    await this.ensureFolder(dirname(target));
    await write();
  }

  /** One output: the hot path of a run (see SYNC_WRITE_BYTES). Its folder is made again if it was removed. */
  async write(target: string, data: Buffer | string): Promise<void> {
    try {
      await this.writeOnce(target, data);
    } catch (error) {
      await this.againIfFolderGone(target, error, () => this.writeOnce(target, data));
    }
  }

  private async writeOnce(target: string, data: Buffer | string): Promise<void> {
    await this.ensureFolder(dirname(target));
    const temp = tempPathFor(target);
    if (this.syncWrites.useSync(data)) {
      this.syncWrites.record(writeThenRename(temp, target, data));
      return;
    }
    try {
      await writeFileQuick(temp, data, { flag: 'wx' });
      await renameQuick(temp, target);
    } catch (error) {
      await unlinkQuick(temp).catch(() => undefined);
      throw error;
    }
  }

  /** Builds a file piece by piece (never whole in memory: a million-row results file), then renames it into place. */
  async writeInPieces(target: string, build: (out: PieceWriter) => Promise<void>): Promise<void> {
    const once = async (): Promise<void> => {
      await this.ensureFolder(dirname(target));
      await writeThroughTemp(target, (handle) => build(pieceWriter(handle)));
    };
    try {
      await once();
    } catch (error) {
      await this.againIfFolderGone(target, error, once);
    }
  }
}

/**
 * Removes genbatch's temp files from `folders` (the folders a job writes into): what a run killed in
 * the middle of a write leaves. Temp files of a live process other than this one (another job writing
 * into the same folder) are left alone. Reads each folder once, streaming its entries; called when a
 * run starts after one that ended abruptly, the only way such files are left.
 */
export function removeTempLeftovers(folders: Iterable<string>): number {
  let removed = 0;
  for (const folder of new Set(folders)) {
    let dir;
    try {
      dir = opendirSync(folder);
    } catch {
      continue;
    }
    try {
      for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
        const match = TEMP_NAME.exec(entry.name);
        if (!match || entry.isDirectory()) continue;
        const pid = match[1] === undefined ? undefined : Number(match[1]);
        if (pid !== undefined && pid !== process.pid && processAlive(pid)) continue;
        try {
          unlinkSync(join(folder, entry.name));
          removed += 1;
        } catch {
          // Gone meanwhile, or not ours to remove: left as it is.
        }
      }
    } finally {
      dir.closeSync();
    }
  }
  return removed;
}
