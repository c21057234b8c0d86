import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** What each example must leave on disk (relative to the copy's out/ folder); the demo has its own test (demo.test.ts). */
const EXPECTED: Record<string, string[]> = {
  'catalogue-alt-text.yaml': ['catalogue-alt-text/alt-text.csv'],
  'catalogue-quality.yaml': ['catalogue-quality/descriptions.csv'],
  'doc-chunk-embeddings.yaml': ['doc-chunk-embeddings/chunks.jsonl', 'doc-chunk-embeddings/chunks.npy'],
  'nightly-digest.yaml': ['nightly-digest/results.jsonl'],
  'product-copy.yaml': ['product-copy/copy.csv'],
  'product-videos.yaml': ['product-videos/videos/mug-01.mp4', 'product-videos/videos/chair-04.mp4', 'product-videos/results.csv'],
  'style-library.yaml': ['style-library/hero/spring-sale.webp', 'style-library/square/open-day.webp', 'style-library/banner/night-run.webp'],
  'titles-on-images.yaml': ['titles-on-images/posters/spring-sale.png', 'titles-on-images/posters/night-run.png'],
};

const jobFiles = readdirSync(join(REPO, 'jobs')).filter((f) => f.endsWith('.yaml'));

describe('every example in jobs/', () => {
  let hook: Server;
  const posts: string[] = [];
  beforeAll(async () => {
    // The nightly job notifies: a local receiver stands in for the chat webhook.
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        posts.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => hook.close(() => resolve())));

  it('each job file says on its first line what it is for, and has its expectations here', () => {
    for (const file of jobFiles) {
      const first = readFileSync(join(REPO, 'jobs', file), 'utf8').split('\n')[0] ?? '';
      expect([file, first]).toEqual([file, expect.stringMatching(/^# For .{20,}/)]);
      if (file !== 'blog-hero-images.yaml') expect(Object.keys(EXPECTED)).toContain(file);
    }
  });

  for (const file of Object.keys(EXPECTED)) {
    it(`${file} runs with --emulator and exits 0`, async () => {
      const dir = tempDir();
      cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
      for (const credentials of ['credentials.emulator.yaml', 'credentials.quality.yaml'])
        cpSync(join(REPO, 'fixtures', credentials), join(dir, 'fixtures', credentials));
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const before = posts.length;
      const run = await runCli(['run', `jobs/${file}`, '--emulator', '--yes', '--plain', ...(file.startsWith('nightly') ? ['--notify', url] : [])], {
        cwd: dir,
      });
      expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
      expect(run.code).toBe(0);
      for (const out of EXPECTED[file] ?? []) {
        const path = join(dir, 'out', out);
        expect([out, existsSync(path) && statSync(path).size > 0]).toEqual([out, true]);
      }
      if (file.startsWith('nightly')) {
        expect(posts.length).toBe(before + 1);
        expect(JSON.parse(posts.at(-1) ?? '{}')).toMatchObject({ job: 'nightly-digest', outcome: 'finished' });
      }
    });
  }
});
