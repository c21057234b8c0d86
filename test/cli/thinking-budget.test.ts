import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeJobFixture } from '../helpers/job-fixture.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
// Nothing listens here: a test that reached the network would fail loudly, not spend.
const DEAD_ENDPOINT = 'http://127.0.0.1:9';

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
}

describe('a thinking budget that leaves the reply too little is refused before any call (docs/thinking.md)', () => {
  it('thinking_budget 1024 under max_output_tokens 300: validate and run exit 2, naming the step, the budget, max_output_tokens and the fix', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT, items: 3 });
    edit(job, '    max_output_tokens: 300\n', '    max_output_tokens: 300\n    params: { thinking_budget: 1024 }\n');
    for (const command of ['validate', 'run']) {
      const result = await runCli(command === 'run' ? [command, job, '--yes'] : [command, job]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(
        /job\.yaml:12: steps\.brief\.params\.thinking_budget: step "brief" on gemini-2\.5-flash: thinking_budget 1,024, more than half of max_output_tokens \(300\): the reply could be cut short or come back empty/,
      );
      expect(result.stderr).toMatch(/Lower thinking_budget to at most 150, or raise max_output_tokens to at least 2,048\./);
    }
    expect(existsSync(join(job, '..', '.genbatch'))).toBe(false);
  });

  it('gemini-2.5-pro with thinking_budget 0 (Vertex refuses it on every call): exit 2 with the range it takes', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT, items: 3, imageStep: false });
    edit(job, 'model: gemini-2.5-flash\n', 'model: gemini-2.5-pro\n');
    edit(job, '    max_output_tokens: 300\n', '    max_output_tokens: 300\n    params: { thinking_budget: 0 }\n');
    const result = await runCli(['validate', job]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/steps\.brief\.params\.thinking_budget: step "brief" on gemini-2\.5-pro: gemini-2\.5-pro cannot turn thinking off/);
    expect(result.stderr).toMatch(/Give a budget from 128 to 150/);
  });

  it('the default budget is lowered, not refused: max_output_tokens 300 on gemini-2.5-flash validates', async () => {
    const job = writeJobFixture(tempDir(), { endpoint: DEAD_ENDPOINT, items: 3 });
    const result = await runCli(['validate', job]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /brief: thinking budget 150 on gemini-2\.5-flash \(its default 1024 lowered so that the reply keeps at least half of max_output_tokens 300; docs\/thinking\.md\)/,
    );
  });
});
