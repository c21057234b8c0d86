import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';

const tempDir = useTempDir();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Two posts, one of which the emulator's safety filter blocks (its default blocked_terms: "[unsafe]"). */
function writeEmulatedJob(dir: string, credentials: string): string {
  writeFileSync(join(dir, 'posts.csv'), 'slug,title\nok-post,A calm post\nbad-post,An [unsafe] post\n');
  writeFileSync(join(dir, 'credentials.yaml'), credentials);
  const job = join(dir, 'job.yaml');
  writeFileSync(
    job,
    `version: 1
name: emulator-rehearsal
input: { file: posts.csv, id: slug }
credentials: credentials.yaml
steps:
  - { name: note, task: text, model: gemini-2.5-flash, prompt: "A note on {{title}}", max_output_tokens: 1000, params: { thinking_budget: 0 } }
`,
  );
  return job;
}

describe('notifications redact secrets, not words', () => {
  it('the placeholder key `emulator` is no secret: the word stays in the notification text (issue 27.13)', async () => {
    const dir = tempDir();
    const hook = await webhookReceiver(closers);
    const job = writeEmulatedJob(dir, 'projects:\n  - { name: p, project: p, location: us-central1, api_key: emulator }\n');
    const run = await runCli(['run', job, '--emulator', '--yes', '--plain', '--no-cache', '--notify', hook.url]);
    expect(run.stderr).toMatch(/ended: /);
    const body = hook.bodies[0] ?? {};
    const text = JSON.stringify(body);
    expect(body).toMatchObject({ job: 'emulator-rehearsal', failures_total: 1 });
    // The emulator's own reason, word for word: "… safety filters (emulator blocked_terms)".
    expect((body.failures as { message: string }[])[0]?.message).toMatch(/\(emulator blocked_terms\)/);
    expect(text).not.toContain('[redacted]');
  });
});
