import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that it either exists whole or not at all. The temp file lives in a scratch folder
 * beside the state file, not among the outputs, so a `kill -9` between write and rename never leaves
 * a partial file where a person (or the results file) would find it.
 */
export class AtomicWriter {
  constructor(private readonly scratchDir: string) {}

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
    await mkdir(this.scratchDir, { recursive: true });
    await mkdir(dirname(target), { recursive: true });
    const temp = join(this.scratchDir, `${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
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
