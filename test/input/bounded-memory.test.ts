import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInput } from '../../src/input/index.js';
import { tempDir } from './helpers.js';

const ROWS = 200_000;
const MB = 1024 * 1024;
/** Heap the reader may retain while streaming; the file is twice as large, so reading it whole would fail. */
const HEAP_BOUND = 12 * MB;

// A collection before each measurement makes it the memory the reader retains, not garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function retainedHeap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

async function writeBigFile(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,title,slug,meta_description\n');
  let batch: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    batch.push(`${i},"Post ${i}: streaming, quoting and memory",post-${i},"A description with commas, quotes ""like these"", and enough text."\n`);
    if (batch.length === 5000) {
      if (!out.write(batch.join(''))) await once(out, 'drain');
      batch = [];
    }
  }
  out.end(batch.join(''));
  await once(out, 'finish');
}

describe('bounded memory', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let file: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    file = join(dir, 'big.csv');
    await writeBigFile(file);
  });
  afterAll(async () => cleanup());

  it(`streams ${ROWS.toLocaleString('en')} rows while the retained heap stays below a bound half the file size`, async () => {
    const size = (await stat(file)).size;
    expect(size).toBeGreaterThan(HEAP_BOUND * 2);
    const start = retainedHeap();
    let peak = 0;
    let count = 0;
    let last = 0;
    // Measured every 20,000 records (not on a timer), so the check does not depend on wall time.
    for await (const record of (await openInput({ file })).records()) {
      count++;
      last = record.line;
      if (count % 20_000 === 0) peak = Math.max(peak, retainedHeap() - start);
    }
    expect(count).toBe(ROWS);
    expect(last).toBe(ROWS + 1);
    expect(peak).toBeLessThan(HEAP_BOUND);
  });
});
