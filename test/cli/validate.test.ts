import { existsSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
// Nothing listens here: a test that reached the network would fail loudly, not spend.
const DEAD_ENDPOINT = 'http://127.0.0.1:9';

function edit(file: string, from: string | RegExp, to: string): void {
  writeFileSync(file, readFileSync(file, 'utf8').replace(from, to));
}

describe('validate and run refuse bad input with exit 2, before any call', () => {
  it('accepts a valid job', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT, items: 5 });
    const result = await runCli(['validate', job]);
    expect(result.stderr).toMatch(/test-job: valid\. 5 items × 2 step\(s\)/);
    expect(result.code).toBe(0);
  });

  it('an unknown key: names the line and the nearest valid key', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT });
    edit(job, 'max_output_tokens: 300', 'max_ouput_tokens: 300');
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, job]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/job\.yaml:11: steps\[0\]\.max_ouput_tokens: unknown key "max_ouput_tokens"; did you mean "max_output_tokens"\?/);
    }
    expect(existsSync(join(job, '..', '.genbatch'))).toBe(false);
  });

  it('a template naming a missing column', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT });
    edit(job, '{{meta_description}}', '{{meta_descripton}}');
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, job]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /steps\.brief\.prompt: \{\{meta_descripton\}\} names a column that is not in .*posts\.csv .*did you mean \{\{meta_description\}\}\?/,
      );
    }
    expect(existsSync(join(job, '..', '.genbatch'))).toBe(false);
  });

  it('a missing input file', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT });
    edit(job, 'file: posts.csv', 'file: post.csv');
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, job]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/input\.file: the input file .*post\.csv does not exist or is not readable/);
    }
  });

  it('an unreadable or missing credentials file', async () => {
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT });
    chmodSync(join(dir, 'credentials.yaml'), 0o000);
    const unreadable = await runCli(['validate', job]);
    // root reads anything: then the file is readable and valid, so only assert the refusal when it is not.
    if (process.getuid?.() !== 0) {
      expect(unreadable.code).toBe(2);
      expect(unreadable.stderr).toMatch(/Credentials file .*credentials\.yaml is not readable/);
    }
    chmodSync(join(dir, 'credentials.yaml'), 0o600);
    writeFileSync(join(dir, 'credentials.yaml'), 'projects:\n  - { name: a, project: p, api_key: k, locaton: x }\n');
    const typo = await runCli(['run', job]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/credentials\.yaml:2: projects\[0\]\.locaton: unknown key "locaton"; did you mean "location"\?/);
    edit(job, 'credentials: credentials.yaml', 'credentials: nowhere.yaml');
    const missing = await runCli(['run', job]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Credentials file .*nowhere\.yaml does not exist/);
  });

  it('duplicate and empty ids, listed with their lines', async () => {
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT, items: 4 });
    const csv = readFileSync(join(dir, 'posts.csv'), 'utf8').trimEnd().split('\n');
    csv.push('Another post,kubernetes-1,Same slug as line 2');
    csv.push('No slug,,Empty id');
    writeFileSync(join(dir, 'posts.csv'), `${csv.join('\n')}\n`);
    const result = await runCli(['run', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/posts\.csv:6: id "kubernetes-1" already used on line 2/);
    expect(result.stderr).toMatch(/posts\.csv:7: the id column "slug" is empty/);
  });

  it('an output name that would leave the output folder, naming the item', async () => {
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT, items: 3 });
    const csv = readFileSync(join(dir, 'posts.csv'), 'utf8').trimEnd();
    writeFileSync(join(dir, 'posts.csv'), `${csv}\nEvil,../../etc/passwd,Escapes the output folder\n`);
    const result = await runCli(['run', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /Item "\.\.\/\.\.\/etc\/passwd", step "hero": output file name "images\/\.\.\/\.\.\/etc\/passwd\.png" would be outside the output folder/,
    );
  });

  it('an unknown model parameter, with the nearest valid one', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT });
    edit(job, 'params: { aspect_ratio: "16:9" }', 'params: { aspect_ration: "16:9" }');
    const result = await runCli(['run', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /steps\.hero\.params\.aspect_ration: unknown parameter for image model gemini-2\.5-flash-image; did you mean "aspect_ratio"\?/,
    );
  });

  it('bad rows in the input: every one listed by line, exit 2', async () => {
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT, items: 3 });
    const csv = readFileSync(join(dir, 'posts.csv'), 'utf8').trimEnd();
    writeFileSync(join(dir, 'posts.csv'), `${csv}\nA title, with a comma,a-slug,desc,extra\nShort row,only-two\n`);
    const result = await runCli(['run', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/posts\.csv: 2 bad rows/);
    expect(result.stderr).toMatch(/line 5:/);
    expect(result.stderr).toMatch(/line 6:/);
  });

  it('an unknown flag is exit 2 with a suggestion', async () => {
    const result = await runCli(['run', 'job.yaml', '--emulatr']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown option '--emulatr'[\s\S]*Did you mean --emulator\?/);
  });
});

describe('results fields', () => {
  it('results: { file, fields } picks the JSON fields; an unknown one is refused before any call', async () => {
    const dir = tempDir();
    const job = writeJobFixture(dir, { endpoint: DEAD_ENDPOINT, items: 3 });
    edit(job, 'results: out/results.csv', 'results: { file: out/results.csv, fields: [brief.alt_txt] }');
    const result = await runCli(['validate', job]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/results\.fields: The results field "brief\.alt_txt" is not a field of any step; did you mean "brief\.alt_text"\?/);
  });
});
