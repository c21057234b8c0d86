import { createHash } from 'node:crypto';
import { readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempPathFor } from '../files/temp-path.js';
import { removeTempLeftovers } from '../outputs/atomic-write.js';

const SHA = /^[0-9a-f]{64}$/;

export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The media bytes of cached answers, one file per distinct content: `blobs/ab/<sha256>` (the first
 * two hex digits as a folder, so no folder holds more than a few thousand files). The name is the
 * hash of the bytes, so the same image stored by two entries, two jobs or two processes is one file,
 * and a read can tell a damaged file from a sound one.
 */
export class BlobFiles {
  /** Folders known to exist: one mkdir per folder per process. */
  private readonly made = new Set<string>();

  constructor(readonly root: string) {}

  pathOf(sha: string): string {
    return join(this.root, sha.slice(0, 2), sha);
  }

  /**
   * Writes the bytes under their hash unless a file of that size is there already: through a temp
   * file and a rename, so a reader (another process) sees the whole file or none.
   */
  async write(sha: string, data: Buffer): Promise<void> {
    const target = this.pathOf(sha);
    const existing = await stat(target).catch(() => undefined);
    if (existing?.isFile() && existing.size === data.length) {
      // Fresh again: a prune elsewhere leaves files this young alone while their entry is being stored.
      const now = new Date();
      await utimes(target, now, now).catch(() => undefined);
      return;
    }
    const folder = join(this.root, sha.slice(0, 2));
    if (!this.made.has(folder)) {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      this.made.add(folder);
    }
    try {
      await this.writeThroughTemp(target, data);
    } catch (error) {
      // The folder went meanwhile (`genbatch cache clear` in another process): made again, once.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await mkdir(folder, { recursive: true, mode: 0o700 });
      await this.writeThroughTemp(target, data);
    }
  }

  private async writeThroughTemp(target: string, data: Buffer): Promise<void> {
    const temp = tempPathFor(target);
    try {
      await writeFile(temp, data, { flag: 'wx', mode: 0o600 });
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  /** The bytes of a blob, or undefined when the file is missing or its content no longer has its hash. */
  async read(sha: string): Promise<Buffer | undefined> {
    const data = await readFile(this.pathOf(sha)).catch(() => undefined);
    return data !== undefined && sha256Of(data) === sha ? data : undefined;
  }

  remove(shas: Iterable<string>): void {
    for (const sha of shas) rmSync(this.pathOf(sha), { force: true });
  }

  /** Removes every blob (and the folder). */
  removeAll(): void {
    rmSync(this.root, { recursive: true, force: true });
    this.made.clear();
  }

  /**
   * Removes the blob files `isKnown` does not know, written more than `graceMs` ago (a file younger
   * than that may belong to an entry another process is storing this moment), and the temp files of
   * writers that died. Returns how many files and bytes went.
   */
  removeOrphans(isKnown: (sha: string) => boolean, now: number, graceMs: number): { files: number; bytes: number; temps: number } {
    let folders: string[];
    try {
      folders = readdirSync(this.root, { withFileTypes: true })
        .filter((d) => d.isDirectory() && /^[0-9a-f]{2}$/.test(d.name))
        .map((d) => join(this.root, d.name));
    } catch {
      return { files: 0, bytes: 0, temps: 0 };
    }
    let files = 0;
    let bytes = 0;
    for (const folder of folders) {
      for (const name of readdirSync(folder)) {
        if (!SHA.test(name) || isKnown(name)) continue;
        const path = join(folder, name);
        const info = statSync(path, { throwIfNoEntry: false });
        if (!info?.isFile() || now - info.mtimeMs < graceMs) continue;
        try {
          unlinkSync(path);
          files += 1;
          bytes += info.size;
        } catch {
          // Removed meanwhile by another process's prune.
        }
      }
    }
    return { files, bytes, temps: removeTempLeftovers(folders) };
  }
}
