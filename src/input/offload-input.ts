import { statSync } from 'node:fs';

/**
 * Inputs smaller than this are parsed on the main thread: starting a worker thread (a fresh V8
 * isolate that loads the parser) costs about 100 ms, more than parsing a few megabytes. Larger
 * inputs go to a worker, where the parser's garbage and a million id hashes do not stay in the
 * run's heap.
 */
const OFFLOAD_BYTES = 8 * 1024 * 1024;

/** Whether a pass over this input file is worth a worker thread. */
export function offloadInput(file: string): boolean {
  try {
    const stat = statSync(file);
    return !stat.isFile() || stat.size >= OFFLOAD_BYTES;
  } catch {
    // Let the pass itself report a missing or unreadable file, as it always does.
    return false;
  }
}
