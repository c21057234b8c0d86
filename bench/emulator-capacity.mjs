// The emulator's own capacity: raw :generateContent POSTs at concurrency C, no SDK, no files.
import { performance } from 'node:perf_hooks';
// usage: node bench/emulator-capacity.mjs URL N C   → prints requests per second
const [url, n, c] = process.argv.slice(2);
const path = `${url}/v1/projects/bench/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`;
const body = (i) => JSON.stringify({ contents: [{ role: 'user', parts: [{ text: `Write a short note about topic ${i}.` }] }] });
let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: Number(c) }, async () => {
    while (next < Number(n)) {
      const i = next++;
      const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': 'bench' }, body: body(i) });
      await res.arrayBuffer();
    }
  }),
);
console.log(JSON.stringify({ requests_per_second: Math.round(Number(n) / ((performance.now() - t0) / 1000)) }));
