import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicWriter, tempPathFor } from '../../src/outputs/atomic-write.js';
import { WriteThread, WriteThreadStopped } from '../../src/outputs/write-thread.js';
import { useTempDir } from '../helpers/temp-dir.js';

/** The compiled worker (`npm ci` and `npm run build` make it): tests run from the TypeScript sources, which have none. */
const WORKER = new URL('../../dist/outputs/write-thread-worker.js', import.meta.url);
const CRASHING = new URL('../fixtures/workers/crashing-worker.mjs', import.meta.url);
const tempDir = useTempDir();

describe.skipIf(!existsSync(WORKER))('WriteThread (small outputs written on a thread of their own)', () => {
  it('writes 300 files given at once, each whole under its name, with no temp file left', async () => {
    const thread = WriteThread.start(WORKER);
    expect(thread).toBeDefined();
    const dir = tempDir();
    try {
      const ms = await Promise.all(
        Array.from({ length: 300 }, (_, i) => {
          const target = join(dir, `note-${i}.txt`);
          return thread!.write(tempPathFor(target), target, i % 2 === 0 ? `note ${i} ✓` : Buffer.from(`bytes ${i}`));
        }),
      );
      expect(ms.every((m) => typeof m === 'number' && m >= 0)).toBe(true);
    } finally {
      await thread?.close();
    }
    const names = readdirSync(dir);
    expect(names).toHaveLength(300);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(join(dir, 'note-10.txt'), 'utf8')).toBe('note 10 ✓');
    expect(readFileSync(join(dir, 'note-11.txt'), 'utf8')).toBe('bytes 11');
  });

  it('fails only the write that fails, with its system error code, and removes its temp file', async () => {
    const thread = WriteThread.start(WORKER)!;
    const dir = tempDir();
    const missing = join(dir, 'no-such-folder', 'a.txt');
    const good = join(dir, 'b.txt');
    try {
      const [bad, ok] = await Promise.allSettled([thread.write(tempPathFor(missing), missing, 'x'), thread.write(tempPathFor(good), good, 'y')]);
      expect(bad.status).toBe('rejected');
      expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOENT' });
      expect(ok.status).toBe('fulfilled');
    } finally {
      await thread.close();
    }
    expect(readdirSync(dir)).toEqual(['b.txt']);
  });

  it('rejects what is outstanding when closed, as stopped (the writer then writes it itself)', async () => {
    const thread = WriteThread.start(WORKER)!;
    const target = join(tempDir(), 'late.txt');
    const pending = expect(thread.write(tempPathFor(target), target, 'late')).rejects.toBeInstanceOf(WriteThreadStopped);
    await thread.close();
    await pending;
    await expect(thread.write(tempPathFor(target), target, 'later')).rejects.toBeInstanceOf(WriteThreadStopped);
  });
});

describe('AtomicWriter with a write thread', () => {
  it.skipIf(!existsSync(WORKER))('writes small outputs through the thread, and on the main thread once closed', async () => {
    const dir = tempDir();
    const writer = new AtomicWriter(join(dir, 'scratch'), { writeThread: WORKER });
    await Promise.all(Array.from({ length: 50 }, (_, i) => writer.write(join(dir, 'out', `${i}.txt`), `text ${i}`)));
    await writer.close();
    await writer.write(join(dir, 'out', 'after.txt'), 'after close');
    expect(readdirSync(join(dir, 'out')).sort()).toHaveLength(51);
    expect(readFileSync(join(dir, 'out', '49.txt'), 'utf8')).toBe('text 49');
    expect(readFileSync(join(dir, 'out', 'after.txt'), 'utf8')).toBe('after close');
  });

  it('writes them itself when the thread dies with writes outstanding: every file whole, none lost', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'out'));
    const writer = new AtomicWriter(join(dir, 'scratch'), { writeThread: CRASHING });
    await Promise.all(Array.from({ length: 20 }, (_, i) => writer.write(join(dir, 'out', `${i}.txt`), `text ${i}`)));
    await writer.close();
    const names = readdirSync(join(dir, 'out'));
    expect(names.filter((n) => n.endsWith('.txt') && !n.startsWith('.'))).toHaveLength(20);
    expect(readFileSync(join(dir, 'out', '7.txt'), 'utf8')).toBe('text 7');
  });
});
