import type { ConfigError } from '../errors/config-error.js';
import type { Problem } from './config-problem.js';
import { IMAGE_CHECKS, TEXT_CHECKS, type CheckName, type OnFail, type StepCheck } from './job.js';
import { schemaFields } from './json-shorthand.js';
import type { JsonSchema } from '../providers/provider.js';
import type { CheckFile, StepFile } from './schema.js';

const CHECK_KEYS: readonly CheckName[] = [...TEXT_CHECKS, ...IMAGE_CHECKS, 'judge'];

/** `/re/flags` as written in a job file, or a bare pattern (no flags). */
function compilePattern(source: string): RegExp {
  const literal = /^\/(.+)\/([a-z]*)$/s.exec(source);
  return literal ? new RegExp(literal[1] ?? '', literal[2]) : new RegExp(source);
}

/** "a text", "an image", "an embedding". */
function article(task: string): string {
  return /^[aeiou]/.test(task) ? `an ${task}` : `a ${task}`;
}

function ratio(text: string): { width: number; height: number } {
  const [width = 0, height = 0] = text.split(':').map(Number);
  return { width, height };
}

/** One entry of `checks:` as compiled, or undefined after pushing what is wrong with it. */
function compileCheck(entry: CheckFile, at: (...rest: PropertyKey[]) => PropertyKey[], problem: Problem, problems: ConfigError[]): StepCheck | undefined {
  const keys = CHECK_KEYS.filter((key) => entry[key] !== undefined);
  const [name] = keys;
  if (name === undefined || keys.length > 1) {
    problems.push(
      problem(
        at(),
        name === undefined ? 'a check names no check' : `one check per entry, not ${keys.join(' and ')}`,
        `Write each check as its own list entry: - { words: { min: 50 } }. Checks: ${CHECK_KEYS.join(', ')}.`,
      ),
    );
    return undefined;
  }
  const target = entry.field === undefined ? {} : { field: entry.field };
  switch (name) {
    case 'words':
    case 'chars': {
      const bounds = entry[name] ?? {};
      if (bounds.min === undefined && bounds.max === undefined) {
        problems.push(problem(at(name), `${name} needs min, max or both`, `For example: { ${name}: { min: 50, max: 300 } }`));
        return undefined;
      }
      if (bounds.min !== undefined && bounds.max !== undefined && bounds.min > bounds.max) {
        problems.push(problem(at(name), `${name}: min (${bounds.min}) is above max (${bounds.max})`));
        return undefined;
      }
      return { check: name, ...target, ...(bounds.min === undefined ? {} : { min: bounds.min }), ...(bounds.max === undefined ? {} : { max: bounds.max }) };
    }
    case 'contains':
    case 'not_contains':
    case 'icontains':
    case 'not_icontains': {
      const value = entry[name] ?? [];
      return { check: name, ...target, phrases: typeof value === 'string' ? [value] : value };
    }
    case 'matches':
    case 'not_matches': {
      const source = entry[name] ?? '';
      try {
        return { check: name, ...target, pattern: compilePattern(source), source };
      } catch (error) {
        problems.push(
          problem(
            at(name),
            `not a valid regular expression: ${(error as Error).message}`,
            'Write a JavaScript regular expression, with flags as /re/i; escape a literal \\ as \\\\ in YAML double quotes.',
          ),
        );
        return undefined;
      }
    }
    case 'language':
      return { check: 'language', ...target, language: (entry.language ?? '').toLowerCase() };
    case 'not_truncated':
      return { check: 'not_truncated' };
    case 'size': {
      const size = entry.size ?? { minimum: false };
      if (size.width === undefined && size.height === undefined) {
        problems.push(problem(at('size'), 'size needs width, height or both', 'For example: { size: { width: 1024, height: 1024 } }'));
        return undefined;
      }
      return {
        check: 'size',
        minimum: size.minimum,
        ...(size.width === undefined ? {} : { width: size.width }),
        ...(size.height === undefined ? {} : { height: size.height }),
      };
    }
    case 'not_blank':
      return { check: 'not_blank' };
    case 'aspect': {
      const aspect = entry.aspect ?? '1:1';
      const { width, height } = ratio(typeof aspect === 'string' ? aspect : aspect.ratio);
      if (!(width > 0 && height > 0)) {
        problems.push(problem(at('aspect'), 'an aspect ratio has two numbers above 0, such as 16:9'));
        return undefined;
      }
      return { check: 'aspect', width, height, tolerance: typeof aspect === 'string' ? 0.02 : aspect.tolerance };
    }
    case 'judge': {
      const judge = entry.judge as NonNullable<CheckFile['judge']>;
      return { check: 'judge', ...target, model: judge.model, rubric: judge.rubric, minScore: judge.min_score };
    }
  }
}

/**
 * A step's `checks:` and `on_fail:`, compiled: regular expressions built at load time, and every
 * check that cannot apply to the step's task or reply refused with its key (an image check on a
 * text step, `field:` on a step without JSON or naming a field the JSON has not).
 */
export function compileChecks(
  raw: StepFile,
  jsonSchema: JsonSchema | undefined,
  at: (...rest: PropertyKey[]) => PropertyKey[],
  problem: Problem,
  problems: ConfigError[],
): { checks?: StepCheck[]; onFail?: OnFail; onTruncated?: 'keep' } {
  if (raw.checks === undefined) {
    if (raw.on_fail !== undefined) problems.push(problem(at('on_fail'), 'on_fail applies to a step with checks:, and this step has none'));
    return {};
  }
  const fields = jsonSchema ? schemaFields(jsonSchema) : undefined;
  const checks: StepCheck[] = [];
  raw.checks.forEach((entry, index) => {
    const where = (...rest: PropertyKey[]): PropertyKey[] => at('checks', index, ...rest);
    const check = compileCheck(entry, where, problem, problems);
    if (!check) return;
    const { check: name } = check;
    if (TEXT_CHECKS.includes(name) && raw.task !== 'text') {
      problems.push(problem(where(name), `${name} checks text, and this is ${article(raw.task)} step`, `Image steps take: ${IMAGE_CHECKS.join(', ')}, judge.`));
      return;
    }
    if (IMAGE_CHECKS.includes(name) && raw.task !== 'image') {
      problems.push(
        problem(where(name), `${name} checks an image, and this is ${article(raw.task)} step`, `Text steps take: ${TEXT_CHECKS.join(', ')}, judge.`),
      );
      return;
    }
    if (name === 'judge' && raw.task !== 'text' && raw.task !== 'image') {
      problems.push(problem(where(name), `a judge looks at text or images, and this is ${article(raw.task)} step`));
      return;
    }
    if (entry.field !== undefined) {
      if (!fields) {
        problems.push(problem(where('field'), `field: names a JSON field, and this step has no json:`, 'Remove `field:` to check the whole text.'));
        return;
      }
      if (name === 'not_truncated' || IMAGE_CHECKS.includes(name)) {
        problems.push(problem(where('field'), `${name} looks at the whole reply, not a field`));
        return;
      }
      if (fields.length > 0 && !fields.includes(entry.field)) {
        problems.push(problem(where('field'), `the step's JSON has no field "${entry.field}" (it has: ${fields.join(', ')})`));
        return;
      }
    }
    checks.push(check);
  });
  const onFail: OnFail = raw.on_fail ?? { regenerate: 0, feedback: false, then: 'fail' };
  // A cut reply reaches the checks (and on_fail) instead of failing the step first, unless on_truncated says otherwise.
  const cutReachesChecks = raw.on_truncated === undefined && checks.some((c) => c.check === 'not_truncated');
  return { checks, onFail, ...(cutReachesChecks ? { onTruncated: 'keep' as const } : {}) };
}
