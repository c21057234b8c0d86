import type { FileHandle } from 'node:fs/promises';

/** Writes at chosen positions of a file being built (the whole file is never in memory). */
export interface PieceWriter {
  /** Appends after the last byte appended. */
  append(data: Buffer | string): Promise<void>;
  /** Overwrites bytes already appended (e.g. a header reserved at the start). */
  writeAt(position: number, data: Buffer): Promise<void>;
}

/** A PieceWriter over an open file (see AtomicWriter.writeInPieces, which makes it appear whole or not at all). */
export function pieceWriter(handle: FileHandle): PieceWriter {
  let size = 0;
  const writeAt = async (position: number, data: Buffer): Promise<void> => {
    let written = 0;
    while (written < data.length) written += (await handle.write(data, written, data.length - written, position + written)).bytesWritten;
  };
  return {
    async append(data) {
      const buffer = typeof data === 'string' ? Buffer.from(data) : data;
      await writeAt(size, buffer);
      size += buffer.length;
    },
    writeAt,
  };
}
