import { open } from 'node:fs/promises';
import { ConfigError } from '../errors/config-error.js';

/** How much of the file detection looks at: enough for ~200 typical rows, small enough to hold. */
export const SAMPLE_BYTES = 64 * 1024;

export interface FileHead {
  bytes: Uint8Array;
  /** True when the file is longer than the head, so the last row in it may be cut. */
  truncated: boolean;
}

/** Reads the first bytes of the file, turning "no such file" and friends into a sentence with a hint. */
export async function readHead(file: string, size = SAMPLE_BYTES): Promise<FileHead> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be opened (${code ?? 'unknown error'})`;
    throw new ConfigError(`The input file ${file} ${what}.`, {
      code: 'INPUT_UNREADABLE',
      file,
      cause,
      hint: 'Check input.file in the job file; relative paths are resolved from the job file’s folder.',
    });
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) {
      throw new ConfigError(`The input path ${file} is a folder, not a file.`, {
        code: 'INPUT_UNREADABLE',
        file,
        hint: 'Point input.file at a .csv, .tsv, .jsonl or .json file.',
      });
    }
    const buffer = Buffer.alloc(Math.min(size, stat.size));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { bytes: buffer.subarray(0, bytesRead), truncated: stat.size > bytesRead };
  } finally {
    await handle.close();
  }
}
