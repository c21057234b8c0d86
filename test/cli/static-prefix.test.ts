import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
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
