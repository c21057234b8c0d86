import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

/**
 * The store behind narrow interfaces (src/store/interfaces): outside src/store, code names what it
 * needs (Checkpoints, Ledger, RunLocks, the read models…), not StateStore. Only the modules that open
 * a run's state and own it for the run (or hand it to a library user) import the class.
 */
const OWNERS = ['src/engine/run-session.ts', 'src/engine/state-owner.ts', 'src/library/open-state.ts'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.isFile() && entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the store boundary', () => {
  it('outside src/store, only the owners of a run state import state-store.ts', () => {
    const importers = sourceFiles(join(REPO, 'src'))
      .map((file) => relative(REPO, file))
      .filter((file) => !file.startsWith('src/store/'))
      .filter((file) => /from '[./]*\/?store\/state-store\.js'/.test(readFileSync(join(REPO, file), 'utf8')));
    expect(importers.sort(), 'Depend on the narrowest interface in src/store/interfaces (or open with src/store/open-state.ts) instead of StateStore.').toEqual(
      OWNERS,
    );
  });
});
