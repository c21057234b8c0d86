import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node';
import { REPO } from '../helpers/cli.js';
import SlowFirstSequencer, { SLOW_FIRST } from './slow-first.js';

/** What BaseSequencer.sort reads of a file: its path and project (one project here), and of vitest: the root and a cache with nothing in it (a clean clone). */
function spec(file: string): TestSpecification {
  return { moduleId: join(REPO, file), project: { name: 'e2e', config: { sequence: { groupOrder: 0 }, isolate: true } } } as unknown as TestSpecification;
}
const cleanClone = { config: { root: REPO }, cache: { getFileTestResults: () => undefined, getFileStats: () => undefined } } as unknown as Vitest;

describe('the slow-first test order', () => {
  it('lists only test files that exist, each once', () => {
    for (const file of SLOW_FIRST) expect(existsSync(join(REPO, file)), file).toBe(true);
    expect(new Set(SLOW_FIRST).size).toBe(SLOW_FIRST.length);
  });

  it('starts the listed files first, in the list order, and keeps the order of the others', async () => {
    const others = ['test/resilience/backoff.test.ts', 'test/cli/init.test.ts', 'test/store/state-store.test.ts'];
    const files = [others[0], SLOW_FIRST[2], others[1], SLOW_FIRST[0], others[2], SLOW_FIRST[1]].map((f) => spec(f as string));
    const sorted = await new SlowFirstSequencer(cleanClone).sort(files);
    expect(sorted.map((s) => s.moduleId.slice(REPO.length))).toEqual([...SLOW_FIRST.slice(0, 3), ...others]);
  });
});
