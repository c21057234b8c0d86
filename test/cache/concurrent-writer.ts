/**
 * Run as a child process by test/cli/cache-command.test.ts (`node bin/run-ts.js test/cache/concurrent-writer.ts DIR NAME N`):
 * stores N answers (every third with the image all writers share), reads each back, and prints what it saw as JSON.
 */
import { createHash } from 'node:crypto';
import { ResponseCache } from '../../src/cache/response-cache.js';
import { emptyUsage } from '../../src/providers/provider.js';

const [dir, name, count] = process.argv.slice(2);
const shared = Buffer.alloc(8192, 'the same image for every writer');
const cache = ResponseCache.open({ dir: dir!, env: {} });
let hits = 0;
for (let i = 0; i < Number(count); i++) {
  const key = createHash('sha256').update(`${name}-${i}`).digest('hex');
  const result = i % 3 === 0 ? { media: [{ mimeType: 'image/png', data: shared }], usage: emptyUsage() } : { text: `${name} ${i}`, usage: emptyUsage() };
  await cache.put(key, result, { model: 'm', task: i % 3 === 0 ? 'image' : 'text' });
  if ((await cache.get(key)) !== undefined) hits += 1;
}
console.log(JSON.stringify({ name, hits, unavailable: cache.unavailable?.message ?? null }));
cache.close();
