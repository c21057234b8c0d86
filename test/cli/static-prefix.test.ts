import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
// Nothing listens here: preview and validate must not call anything.
const DEAD_ENDPOINT = 'http://127.0.0.1:9';
const GUIDE = Array.from({ length: 300 }, (_, i) => `Rule ${i + 1}: write plainly, in the active voice, for busy engineers.`).join(' ');

describe('the static prefix: preview shows it, validate warns when fixed text comes after item fields', () => {
  it('a style guide after {{title}}: validate says how to reorder; once first, preview shows it with its tokens', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT, items: 3, imageStep: false });
    const text = readFileSync(job, 'utf8');
    writeFileSync(
      job,
      text.replace(
        'prompt: "Image brief for {{title}}: {{meta_description}}"',
        'prompt: "Image brief for {{title}}: {{meta_description}}\\n\\n{{styles.guide}}"',
      ) + `styles:\n  guide: "${GUIDE}"\n`,
    );
    const late = await runCli(['validate', job]);
    expect(late.code).toBe(0);
    expect(late.stderr).toMatch(
      /Warning: brief: about [\d,]+ tokens of fixed text \(\{\{styles\.guide\}\}\) come after the item field \{\{title\}\} in prompt:, so no context cache can serve them .*move \{\{styles\.guide\}\} before \{\{title\}\} in prompt:, or into system:/,
    );
    // Asked for a cache all the same: the prefix before {{title}} is under Vertex's minimum, so validate says none will be made.
    writeFileSync(job, readFileSync(job, 'utf8').replace('max_output_tokens: 300', 'max_output_tokens: 300\n    context_cache: on'));
    const on = await runCli(['validate', job]);
    expect(on.code).toBe(0);
    expect(on.stderr).toMatch(
      /Warning: brief: context_cache: on, but the static prefix .* is about \d+ tokens, under the 2,048 Vertex caches at least: no cache will be made/,
    );
    const latePreview = await runCli(['preview', job, '--n', '1']);
    expect(latePreview.stdout).toMatch(
      /\[brief\] static prefix: about \d tokens, the same for every item and sent first; about [\d,]+ more tokens of fixed text come after \{\{title\}\} and cannot be cached/,
    );

    writeFileSync(
      job,
      text.replace(
        'prompt: "Image brief for {{title}}: {{meta_description}}"',
        'prompt: "{{styles.guide}}\\n\\nImage brief for {{title}}: {{meta_description}}"',
      ) + `styles:\n  guide: "${GUIDE}"\n`,
    );
    const first = await runCli(['validate', job]);
    expect(first.code).toBe(0);
    expect(first.stderr).not.toMatch(/Warning/);
    const preview = await runCli(['preview', job, '--n', '1']);
    expect(preview.code).toBe(0);
    const match = /\[brief\] static prefix: about ([\d,]+) tokens, the same for every item and sent first\n {4}Rule 1: write plainly/.exec(preview.stdout);
    expect(Number(match?.[1]?.replace(/,/g, ''))).toBeGreaterThan(2048);
  });
});

describe('the estimate of a step with a cacheable static prefix', () => {
  it('jobs/product-copy.yaml: both figures (discount on the items left, storage for the run) and which wins', async () => {
    const dir = tempDir();
    cpSync(join(REPO, 'jobs'), join(dir, 'jobs'), { recursive: true, filter: (src) => !src.includes('.genbatch') });
    cpSync(join(REPO, 'fixtures', 'credentials.emulator.yaml'), join(dir, 'fixtures', 'credentials.emulator.yaml'));
    const text = await runCli(['estimate', 'jobs/product-copy.yaml', '--emulator'], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /context cache \(auto\): used for the static prefix of about [\d]+ tokens: it pays: discount \$0\.00\d+ on 4 items vs storage \$0\.000\d+ for 1 min in 3 project\/location\(s\)/,
    );
    const json = JSON.parse((await runCli(['estimate', 'jobs/product-copy.yaml', '--emulator', '--json'], { cwd: dir })).stdout) as {
      by_step: { context_cache?: { use: boolean; discount_usd: number; storage_usd: number; caches: number } }[];
    };
    const plan = json.by_step[0]?.context_cache;
    expect(plan).toMatchObject({ use: true, caches: 3 });
    expect(plan?.discount_usd).toBeGreaterThan(plan?.storage_usd ?? Infinity);
  });
});
