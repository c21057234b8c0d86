import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import http from 'node:http';
import { GoogleGenAI } from '@google/genai';
import pLimit from 'p-limit';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
function quickFetch(url, init = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (init.headers) for (const [k, v] of (init.headers instanceof Headers ? init.headers : new Headers(init.headers))) headers[k] = v;
    const req = http.request(url, { method: init.method ?? 'GET', headers, agent, signal: init.signal }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const h = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        resolve(new Response(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), { status: res.statusCode, statusText: res.statusMessage, headers: h }));
      });
      res.on('error', reject);
    });
    req.on('error', (e) => reject(new TypeError('fetch failed', { cause: e })));
    req.end(init.body);
  });
}
const [url, n, c, out, mode] = process.argv.slice(2);
const ai = new GoogleGenAI({ vertexai: true, project: 'bench', location: 'us-central1', apiKey: 'bench', httpOptions: { baseUrl: url, ...(mode === 'quick' ? { fetch: quickFetch } : {}) } });
const limit = pLimit(Number(c));
await mkdir(out, { recursive: true });
await Promise.all(Array.from({ length: Number(n) }, (_, i) => limit(async () => {
  const reply = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: `Write a short note about topic ${i}.` });
  await writeFile(join(out, `item-${i}.txt`), reply.text ?? '');
})));
