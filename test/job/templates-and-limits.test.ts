import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors } from '../../src/errors/config-error.js';
import type { Job } from '../../src/job/job.js';
import { loadJob } from '../../src/job/load-job.js';
import { resolveStyles } from '../../src/job/styles.js';
import { renderTemplate, templateSyntaxProblems } from '../../src/job/template.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** A valid job; `steps` and `tail` replace its step list and what follows it. */
function jobText(options: { prompt?: string; stepExtra?: string; tail?: string } = {}): string {
  return `version: 1
name: demo
input: { file: posts.csv, id: slug }
credentials: creds.yaml
steps:
  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: ${options.prompt ?? '"Brief for {{title}}"'}
${options.stepExtra ?? ''}${options.tail ?? ''}`;
}

async function load(text: string): Promise<Job | ConfigError> {
  const file = join(tempDir(), 'job.yaml');
  writeFileSync(file, text);
  try {
    return await loadJob(file);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

function messages(result: Job | ConfigError): string[] {
  if (result instanceof ConfigErrors) return result.problems.map((p) => p.message);
  if (result instanceof ConfigError) return [result.message];
  return [];
}

describe('templates that would be sent as literal text are refused, naming the line', () => {
  it('finds unclosed, empty and malformed variables, and accepts JSON braces and triple braces', () => {
    expect(templateSyntaxProblems('Title: {{title')).toEqual([expect.objectContaining({ snippet: '{{title' })]);
    expect(templateSyntaxProblems('x {{}} y')[0]?.message).toMatch(/empty variable/);
    expect(templateSyntaxProblems('{{ ti{tle} }}')[0]?.message).toMatch(/is not a variable/);
    expect(templateSyntaxProblems('Answer as {"a": {"b": 1}} for {{title}}')).toEqual([]);
    expect(templateSyntaxProblems('{{{title}}}')).toEqual([]);
  });

  it('an unclosed {{ in a multi-line prompt: the line of the fault, not of prompt:', async () => {
    const result = await load(jobText({ prompt: '|\n      Write a brief.\n      Summary: {{meta_description}}\n      Title: {{title\n      Thanks.' }) + '\n');
    expect(messages(result)).toEqual([expect.stringMatching(/job\.yaml:12: steps\[0\]\.prompt: "\{\{title" opens a variable that is never closed with \}\}/)]);
    expect((result as ConfigError).exitCode).toBe(2);
  });

  it('the system prompt and an overlay text are checked too', async () => {
    const result = await load(
      jobText({ stepExtra: '    system: "You are {{role"\n' }) +
        `  - name: hero
    task: image
    model: gemini-2.5-flash-image
    prompt: "Hero for {{title}}"
    output: { file: "images/{{slug}}.png", post: [ { overlay_text: { text: "{{title" } } ] }
`,
    );
    const all = messages(result).join('\n');
    expect(all).toMatch(/job\.yaml:10: steps\[0\]\.system: "\{\{role" opens a variable/);
    expect(all).toMatch(/job\.yaml:15: steps\[1\]\.output\.post\[0\]\.overlay_text\.text: "\{\{title" opens a variable/);
  });

  it('styles that refer to each other in a loop: one message, on the line of the first', async () => {
    const result = await load(
      jobText({ prompt: '"Brief. {{styles.house}}"', tail: 'styles:\n  house: "Clean. {{styles.tone}}"\n  tone: "Warm. {{styles.house}}"\n' }),
    );
    expect(messages(result)).toEqual([
      expect.stringMatching(/job\.yaml:11: styles\.house: styles refer to each other in a loop \(styles\.house → styles\.tone → styles\.house\)/),
    ]);
  });

  it('a style naming a column or an unknown style is refused; nested styles are resolved once, at compile time', async () => {
    const bad = await load(jobText({ prompt: '"Brief. {{styles.a}}"', tail: 'styles:\n  a: "About {{title}}"\n  b: "{{styles.tonee}}"\n  tone: "warm"\n' }));
    const all = messages(bad).join('\n');
    expect(all).toMatch(/job\.yaml:11: styles\.a: \{\{title\}\}: a style is fixed text/);
    expect(all).toMatch(/job\.yaml:12: styles\.b: \{\{styles\.tonee\}\} names a style that is not defined under styles; did you mean "tone"\?/);

    const good = (await load(jobText({ prompt: '"Brief. {{styles.house}}"', tail: 'styles:\n  base: "Clean."\n  house: "{{styles.base}} Warm."\n' }))) as Job;
    expect(good.styles).toEqual({ base: 'Clean.', house: 'Clean. Warm.' });
    expect(renderTemplate(good.steps[0]?.prompt ?? '', { columns: {}, steps: {}, styles: good.styles })).toBe('Brief. Clean. Warm.');
    expect(resolveStyles({ a: '{{styles.a}}' }).problems).toEqual([
      expect.objectContaining({ style: 'a', message: expect.stringMatching(/loop \(styles\.a → styles\.a\)/) }),
    ]);
  });
});

describe('every number has a range, named with the file, line and key', () => {
  it.each([
    ['limits: { concurrency: 100000000 }\n', /job\.yaml:10: limits\.concurrency: expected a whole number from 1 to 1,000 \(got 100,000,000\)/],
    ['limits: { timeout: 600h }\n', /job\.yaml:10: limits\.timeout: 600h is out of range: expected a duration from 1s to 1h/],
    ['limits: { timeout: 0 }\n', /job\.yaml:10: limits\.timeout: 0 is out of range: expected a duration from 1s to 1h/],
    ['limits: { max_stall: 30d }\n', /job\.yaml:10: limits\.max_stall: 30d is out of range: expected a duration from 1s to 7d/],
    ['limits: { max_attempts: 1000 }\n', /job\.yaml:10: limits\.max_attempts: expected a whole number from 1 to 100/],
    ['budget: { max_usd: 1e12 }\n', /job\.yaml:10: budget\.max_usd: expected a number above \$0 and at most \$1,000,000/],
    ['budget: { confirm_above_usd: -1 }\n', /job\.yaml:10: budget\.confirm_above_usd: expected a number from \$0 to \$1,000,000/],
  ])('%s', async (tail, expected) => {
    const result = await load(jobText({ tail }));
    expect(messages(result).join('\n')).toMatch(expected);
  });

  it('step numbers: timeout, max_output_tokens', async () => {
    const result = await load(jobText({ stepExtra: '    timeout: 30d\n    max_output_tokens: 10000000\n' }));
    const all = messages(result).join('\n');
    expect(all).toMatch(/job\.yaml:10: steps\[0\]\.timeout: 30d is out of range: expected a duration from 1s to 1h/);
    expect(all).toMatch(/job\.yaml:11: steps\[0\]\.max_output_tokens: expected a whole number from 1 to 65,536/);
  });

  it('values inside the ranges compile (the old defaults among them)', async () => {
    const job = (await load(jobText({ tail: 'limits: { concurrency: 1000, timeout: 1h, max_stall: 7d, max_attempts: 100 }\n' }))) as Job;
    expect(job.limits).toMatchObject({ concurrency: 1000, maxAttempts: 100, maxStallMs: 7 * 86_400_000, timeoutMs: 3_600_000 });
  });
});

describe('YAML that cannot be loaded safely', () => {
  it('an alias bomb is refused as a syntax problem of the file (exit 2), not a stack trace', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [i, name] of ['b', 'c', 'd', 'e', 'f', 'g'].entries()) levels.push(`${name}: &${name} [${Array(9).fill(`*${'abcdef'[i]}`).join(',')}]`);
    const result = await load(`${levels.join('\n')}\n`);
    expect(result).toBeInstanceOf(ConfigError);
    expect((result as ConfigError).code).toBe('FILE_SYNTAX');
    expect((result as ConfigError).exitCode).toBe(2);
    expect((result as ConfigError).message).toMatch(/job\.yaml:2: Job file is not valid YAML\/JSON: its aliases \(\*name\) expand to more than 100 copies/);
  });
});

describe('renderTemplate', () => {
  it('renders the same template with each row’s values, and names the first variable without one', () => {
    const template = 'Hi {{ name }}, {{styles.tone}} about {{steps.plan.outline.title}}: {{name}}!';
    const styles = { tone: 'warmly' };
    const steps = { plan: { outline: { title: 'queues' } } };
    expect(renderTemplate(template, { columns: { name: 'Ada' }, steps, styles })).toBe('Hi Ada, warmly about queues: Ada!');
    expect(renderTemplate(template, { columns: { name: 'Lin' }, steps, styles })).toBe('Hi Lin, warmly about queues: Lin!');
    expect(renderTemplate('{{n}}', { columns: { n: '$& $1' }, steps: {}, styles: {} })).toBe('$& $1');
    expect(renderTemplate('no variables', { columns: {}, steps: {}, styles: {} })).toBe('no variables');
    expect(() => renderTemplate(template, { columns: {}, steps, styles })).toThrow('template variable {{name}} has no value');
    expect(() => renderTemplate(template, { columns: { name: 'Ada' }, steps: {}, styles })).toThrow('{{steps.plan.outline.title}} has no value');
  });
});
