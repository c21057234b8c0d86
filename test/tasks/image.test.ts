import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { useTaskJobs } from './task-job.js';

const taskJob = useTaskJobs();

describe('task: Gemini image (gemini-2.5-flash-image)', () => {
  it('writes decodable images, post-processed to the exact size and format, with the caption drawn', async () => {
    // Both steps fix the seed: only then does the model (and the emulator) draw the same picture twice.
    const t = await taskJob({
      items: 4,
      steps: `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "Hero image for a blog post titled {{title}}"
    params: { aspect_ratio: "16:9", seed: 7 }
    output:
      file: "images/{{slug}}.webp"
      post:
        - resize: { width: 1200, height: 630, fit: cover }
        - overlay_text: { text: "{{title}}", position: bottom }
  - name: plain
    task: image
    model: gemini-2.5-flash-image
    prompt: "Hero image for a blog post titled {{title}}"
    params: { aspect_ratio: "16:9", seed: 7 }
    output:
      file: "plain/{{slug}}.png"
      post:
        - resize: { width: 1200, height: 630, fit: cover }
`,
      extra: 'results: out/results.csv\n',
    });
    const run = await t.run();
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);

    const names = readdirSync(t.out('images')).sort();
    expect(names).toEqual(['kubernetes-1.webp', 'postgresql-3.webp', 'redis-4.webp', 'terraform-2.webp']);
    for (const name of names) {
      const meta = await sharp(t.out('images', name)).metadata();
      expect([meta.format, meta.width, meta.height, meta.hasAlpha]).toEqual(['webp', 1200, 630, false]);
      // Same prompt, same emulated picture: the captioned copy differs from the plain one in the
      // bottom band only.
      const slug = name.replace(/\.webp$/, '');
      const raw = async (file: string): Promise<Buffer> => sharp(file).removeAlpha().raw().toBuffer();
      const [captioned, plain] = await Promise.all([raw(t.out('images', name)), raw(t.out('plain', `${slug}.png`))]);
      const rowDiff = (y: number): number => {
        let sum = 0;
        for (let i = y * 1200 * 3; i < (y + 1) * 1200 * 3; i++) sum += Math.abs((captioned[i] ?? 0) - (plain[i] ?? 0));
        return sum / (1200 * 3);
      };
      expect(rowDiff(610), slug).toBeGreaterThan(30); // inside the band (lossy WebP, so not exact elsewhere)
      expect(rowDiff(100), slug).toBeLessThan(8);
    }
    const results = parse(readFileSync(t.out('results.csv')), { columns: true }) as Record<string, string>[];
    expect(results.map((r) => r.hero_file)).toEqual(['images/kubernetes-1.webp', 'images/terraform-2.webp', 'images/postgresql-3.webp', 'images/redis-4.webp']);
    expect(t.calls('gemini-2.5-flash-image')).toBe(8);
    expect(t.emulator.stats().projects.studio?.images).toBe(8);
  });

  it('converts the model’s PNG to the format the file name asks for, unprocessed otherwise', async () => {
    const t = await taskJob({
      items: 2,
      steps: `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "Hero image for {{title}}"
    params: { aspect_ratio: "1:1" }
    output: { file: "images/{{slug}}.jpg" }
`,
    });
    expect((await t.run()).code).toBe(0);
    for (const name of readdirSync(t.out('images'))) {
      const meta = await sharp(t.out('images', name)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1024, 1024]);
    }
  });
});

describe('task: Imagen (imagen-4.0-generate-001)', () => {
  it('sample_count: 2 writes two candidates per item, name-1 and name-2, each a decodable image', async () => {
    const t = await taskJob({
      items: 3,
      steps: `  - name: photo
    task: image
    model: imagen-4.0-generate-001
    prompt: "Studio photo for {{title}}"
    params: { sample_count: 2, aspect_ratio: "4:3" }
    output:
      file: "photos/{{slug}}.png"
      post: [ { resize: { width: 400, height: 300 } } ]
`,
      extra: 'results: out/results.csv\n',
    });
    const run = await t.run();
    expect(run.stderr).toMatch(/ended: finished \(exit 0\)/);
    expect(run.code).toBe(0);
    expect(readdirSync(t.out('photos')).sort()).toEqual([
      'kubernetes-1-1.png',
      'kubernetes-1-2.png',
      'postgresql-3-1.png',
      'postgresql-3-2.png',
      'terraform-2-1.png',
      'terraform-2-2.png',
    ]);
    for (const slug of ['kubernetes-1', 'terraform-2', 'postgresql-3']) {
      const [a, b] = await Promise.all([1, 2].map((n) => sharp(t.out('photos', `${slug}-${n}.png`)).metadata()));
      expect([a?.format, a?.width, a?.height]).toEqual(['png', 400, 300]);
      expect([b?.format, b?.width, b?.height]).toEqual(['png', 400, 300]);
      // Two candidates, not one image twice.
      expect(readFileSync(t.out('photos', `${slug}-1.png`)).equals(readFileSync(t.out('photos', `${slug}-2.png`)))).toBe(false);
    }
    const results = parse(readFileSync(t.out('results.csv')), { columns: true }) as Record<string, string>[];
    expect(results[0]?.photo_file).toBe('photos/kubernetes-1-1.png photos/kubernetes-1-2.png');
    // One call per item, two images billed per call.
    expect(t.calls('imagen-4.0-generate-001')).toBe(3);
    expect(t.emulator.stats().projects.studio?.images).toBe(6);
    const status = await t.status();
    expect(status.cost_usd).toBeCloseTo(6 * 0.04, 6);
  });
});
