import { describe, expect, it } from 'vitest';
import { Budget } from '../../src/estimate/budget.js';

describe('Budget: per-run and lifetime caps', () => {
  it('the per-run cap counts only what this run spent; the lifetime cap counts every run', () => {
    // $0.0169 spent by earlier runs, $0.002 by this one: a $0.02 per-run cap has room, as the issue expected.
    const budget = new Budget({ perRunUsd: 0.02, maxUsd: 1 }, 0.0189, 0, 0.002);
    expect(budget.reserve(0.01)).toBeDefined();
    const refused = new Budget({ perRunUsd: 0.02, maxUsd: 1 }, 0.0189, 0, 0.015);
    expect(refused.reserve(0.01)).toBeUndefined();
    expect(refused.stopError(0.01).message).toBe(
      'Stopped by the budget cap: the next call could cost up to $0.0100, which could cross the per-run cap of $0.02 (budget.per_run_usd or --budget; this run spent $0.0150).',
    );
    const lifetime = new Budget({ perRunUsd: 5, maxUsd: 0.02 }, 0.0169, 0, 0.002);
    expect(lifetime.reserve(0.005)).toBeUndefined();
    expect(lifetime.stopError(0.005).message).toContain(
      "the job's budget.max_usd of $0.02 over all its runs (spent by all runs $0.0169, this run spent $0.0020)",
    );
    expect(lifetime.stopError(0.005).hint).toMatch(/^Raise budget\.max_usd in the job file/);
  });

  it('a settled call counts toward this run and every run', () => {
    const budget = new Budget({ perRunUsd: 0.1 }, 5, 0, 0);
    const r = budget.reserve(0.06);
    expect(r).toBeDefined();
    budget.settle(r as NonNullable<typeof r>, 0.06);
    expect(budget.reserve(0.05)).toBeUndefined();
    expect(budget.reserve(0.04)).toBeDefined();
  });
});
