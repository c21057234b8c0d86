import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openInput } from '../src/input/index.js';
import { buildProfiles } from '../src/input/column-profile.js';
import { MAX_COLUMNS } from '../src/input/input-layout.js';
import { proposeMerge } from '../src/input/propose-repair.js';

/**
 * The two wide-row passes test/input/limits.test.ts checks for their answers, timed: refusing a
 * file of 100,000 columns (quadratic detection once took minutes on it) and proposing the merge of
 * a 10,000-cell row with one stray cell (once 10,000 x 10,000 cell fits). Milliseconds, best of 3.
 */
function wideCsv(columns: number, rows: number): string {
  const names = Array.from({ length: columns }, (_, i) => (i === 0 ? 'slug' : `c${i}`));
  const lines = [names.join(',')];
  for (let r = 0; r < rows; r++) lines.push(names.map((_, i) => (i === 0 ? `slug-${r}` : `v${i}`)).join(','));
  return `${lines.join('\n')}\n`;
}

async function best(times: number, pass: () => Promise<unknown>): Promise<number> {
  let fastest = Infinity;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await pass();
    fastest = Math.min(fastest, performance.now() - t0);
  }
  return Math.round(fastest * 10) / 10;
}

export async function inputLimits(): Promise<Record<string, string | number>> {
  const dir = await mkdtemp(join(tmpdir(), 'genbatch-input-limits-'));
  try {
    const file = join(dir, 'posts.csv');
    await writeFile(file, wideCsv(100_000, 2));
    const refuseMs = await best(3, () =>
      openInput({ file }).then(
        () => {
          throw new Error('a file of 100,000 columns was not refused');
        },
        () => undefined,
      ),
    );
    const cell = (r: number, i: number): string => (i === 0 ? `slug-${r}` : i === 1 ? `A title for post ${r}` : i % 2 ? `${i * 7}` : `w${i}`);
    const rows = Array.from({ length: 5 }, (_, r) => Array.from({ length: MAX_COLUMNS }, (_, i) => cell(r, i)));
    const profiles = buildProfiles(rows, MAX_COLUMNS);
    const first = rows[0] as string[];
    const bad = [first[0] as string, 'A title', ' cut at its comma', ...first.slice(2)];
    const mergeMs = await best(3, () => Promise.resolve(proposeMerge(bad, profiles, ',')));
    return { scenario: `refuse 100,000 columns; merge proposal over a ${MAX_COLUMNS}-cell row`, refuse_100k_columns_ms: refuseMs, merge_10k_cells_ms: mergeMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
