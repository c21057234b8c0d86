import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.js';
import { readStateFile } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

describe('the demo job (npm run demo)', () => {
  it('turns 289 posts into briefs and hero images on the in-process emulator', async () => {
    // A copy of the checkout's jobs/ and fixtures/, so the test never touches the repo's own out/.
    const dir = tempDir();
    cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
    cpSync(join(REPO, 'fixtures'), join(dir, 'fixtures'), { recursive: true });
    const run = await runCli(['run', 'jobs/blog-hero-images.yaml', '--emulator', '--yes'], { cwd: dir });
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    const status = JSON.parse((await runCli(['status', 'jobs/blog-hero-images.yaml', '--json'], { cwd: dir })).stdout) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ done: 289, pending: 0, failed: 0, filtered: 0, running: 0 });

    const imageDir = join(dir, 'out', 'blog-hero-images', 'images');
    const images = readdirSync(imageDir);
    expect(images).toHaveLength(289);
    for (const name of images) {
      const meta = await sharp(join(imageDir, name)).metadata();
      expect([name, meta.format, meta.width, meta.height]).toEqual([name, 'webp', 1200, 630]);
    }
    const rows = parse(readFileSync(join(dir, 'out', 'blog-hero-images', 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(289);
    expect(new Set(rows.map((r) => r.id)).size).toBe(289);
    expect(rows.every((r) => r.brief_state === 'done' && r.hero_state === 'done' && r.brief_alt_text !== '')).toBe(true);
    // No brief was cut at max_output_tokens (issue 23: Flash thinks within max_output_tokens 400), as Vertex's finish reasons say.
    const finishReasons = readStateFile(join(dir, 'jobs', '.genbatch', 'blog-hero-images.db'), (db) =>
      db.prepare("SELECT finish_reason AS reason, count(*) AS n FROM item_steps WHERE step = 'brief' GROUP BY finish_reason").all(),
    );
    expect(finishReasons).toEqual([{ reason: 'STOP', n: 289 }]);
    // The source's pipe title survived intact.
    expect(rows.find((r) => r.id === 'postgresql-vs-mysql-vs-sqlite-which-database-should-you-choose')).toBeDefined();
    // 289 briefs and hero images: about 45 s alone, more on a busy machine.
  }, 180_000);
});
