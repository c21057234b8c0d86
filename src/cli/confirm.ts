import { createInterface } from 'node:readline/promises';
import { GenbatchError } from '../errors/genbatch-error.js';
import type { JobEstimate } from '../engine/estimate-job.js';
import type { CliIO } from './io.js';
import { renderEstimate } from './render-estimate.js';

/** Asks a yes/no question on the terminal; anything but y/yes is no. Only called with a TTY. */
export async function confirm(question: string, io: CliIO): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * Before spending what `estimate` covers (what is left, the next `--limit` items, or a pilot's
 * items): above the threshold, without `--yes`, the person is asked on the terminal; without a
 * terminal nothing is sent (exit 4). Returns whether to go on.
 */
export async function confirmSpend(
  estimate: JobEstimate,
  options: { threshold: number; yes: boolean | undefined; what?: string; hint?: string },
  io: CliIO,
): Promise<boolean> {
  const { expected, high } = estimate.remaining_usd;
  if (expected <= options.threshold || options.yes) return true;
  renderEstimate(estimate, io);
  const what = options.what ? ` for ${options.what}` : '';
  if (!io.stdin.isTTY) {
    throw new GenbatchError(
      `The estimate ($${expected.toFixed(2)} expected${what}) is above budget.confirm_above_usd ($${options.threshold.toFixed(2)}) and there is no terminal to ask; nothing was sent.`,
      {
        code: 'CONFIRMATION_REQUIRED',
        exitCode: 4,
        hint: options.hint ?? 'Pass --yes to allow it (e.g. in cron), raise budget.confirm_above_usd, or try --pilot N first.',
      },
    );
  }
  return confirm(`Spend about $${expected.toFixed(2)} (up to $${high.toFixed(2)})${what}?`, io);
}
