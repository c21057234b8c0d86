import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that it either exists whole or not at all. The temp file lives in a scratch folder
 * beside the state file, not among the outputs, so a `kill -9` between write and rename never leaves
 * a partial file where a person (or the results file) would find it.
 *
 * There is no fsync per file: a rename after a complete write is safe against the death of the
 * process, which is what happens in practice. Only an operating-system crash can lose a file the
 * state already calls done; a resume checks the outputs of done steps and redoes missing or empty
 * ones (see findMissingOutputs).
 */
export class AtomicWriter {
  private counter = 0;
  /** Folders known to exist: one mkdir per folder per run, not one per file. */
  private readonly folders = new Set<string>();

  constructor(private readonly scratchDir: string) {}

  private async ensureFolder(folder: string): Promise<void> {
    if (this.folders.has(folder)) return;
    await mkdir(folder, { recursive: true });
    this.folders.add(folder);
  }

  /** Removes temp files left by a killed run. */
  async clearScratch(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.scratchDir);
    } catch {
      return 0;
    }
    await Promise.all(names.map((name) => rm(join(this.scratchDir, name), { force: true })));
    return names.length;
  }

  async write(target: string, data: Buffer | string): Promise<void> {
    await this.ensureFolder(this.scratchDir);
    await this.ensureFolder(dirname(target));
    const temp = join(this.scratchDir, `${basename(target)}.${process.pid}.${(this.counter++).toString(36)}.tmp`);
    try {
      await writeFile(temp, data);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    try {
      await rename(temp, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') {
        await unlink(temp).catch(() => undefined);
        throw error;
      }
      // Output folder on another file system: copy next to the target, then rename there.
      const sibling = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
      await copyFile(temp, sibling);
      await unlink(temp);
      await rename(sibling, target);
    }
  }
}
