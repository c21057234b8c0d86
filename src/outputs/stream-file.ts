import { copyFile, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Writes at chosen positions of a file being built (the whole file is never in memory). */
export interface PieceWriter {
  /** Appends after the last byte appended. */
  append(data: Buffer | string): Promise<void>;
  /** Overwrites bytes already appended (e.g. a header reserved at the start). */
  writeAt(position: number, data: Buffer): Promise<void>;
}

/** Renames a finished temp file onto its target; across file systems, copies it beside the target first. */
async function moveIntoPlace(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    const sibling = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
    await copyFile(temp, sibling);
    await unlink(temp);
    await rename(sibling, target);
  }
}

/**
 * Builds a file piece by piece in the scratch folder, then renames it into place: it appears whole
 * or not at all (as AtomicWriter's files do), and memory stays bounded whatever its size.
 */
export async function writeFileInPieces(scratchDir: string, target: string, build: (out: PieceWriter) => Promise<void>): Promise<void> {
  await mkdir(scratchDir, { recursive: true });
  await mkdir(dirname(target), { recursive: true });
  const temp = join(scratchDir, `${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle: FileHandle = await open(temp, 'w');
  let size = 0;
  const out: PieceWriter = {
    async append(data) {
      const buffer = typeof data === 'string' ? Buffer.from(data) : data;
      let written = 0;
      while (written < buffer.length) written += (await handle.write(buffer, written, buffer.length - written, size + written)).bytesWritten;
      size += buffer.length;
    },
    async writeAt(position, data) {
      let written = 0;
      while (written < data.length) written += (await handle.write(data, written, data.length - written, position + written)).bytesWritten;
    },
  };
  try {
    try {
      await build(out);
    } finally {
      await handle.close();
    }
    await moveIntoPlace(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}
