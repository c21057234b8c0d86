import type { JobEstimate } from '../engine/estimate-job.js';
import { formatDuration } from '../job/duration.js';
import { line, type CliIO } from './io.js';

const usd = (n: number): string => `$${n.toFixed(n < 10 ? 4 : 2)}`;

function etaText(estimate: JobEstimate): string {
  if (estimate.remaining_items === 0) return 'nothing left to do';
  if (estimate.eta_seconds !== null)
    return `${estimate.eta_seconds < 1 ? 'under a second' : formatDuration(estimate.eta_seconds * 1000)} (${estimate.eta_basis === 'pilot' ? basisOf(estimate) : 'from the declared quotas'})`;
  const models = estimate.eta_unknown_models ?? [];
  const which = models.length > 0 ? `no quota declared for ${models.join(', ')} in the credentials file` : 'no quota declared';
  return `unknown (${which}; declare one under quotas:, or a pilot measures it)`;
}

const basisOf = (estimate: JobEstimate): string => (estimate.pilot ? 'measured by the pilot' : 'measured on earlier runs');

/** An estimate for a person: each step and the total as low / expected / high. */
export function renderEstimate(estimate: JobEstimate, io: CliIO, stream: NodeJS.WritableStream = io.stderr): void {
  const scope =
    estimate.limit === null
      ? `${estimate.remaining_items} of ${estimate.items} items left`
      : `the next ${estimate.remaining_items} item(s) with work left, of ${estimate.items}`;
  line(
    stream,
    `Estimate for ${estimate.job}: ${scope} (prices as of ${estimate.prices_as_of}; tokens counted by ${estimate.token_count_method.replace(/_/g, ' ')}).`,
  );
  // Measurements of earlier runs are not a pilot: only `--pilot N` run now is called one.
  const basisLabel = (basis: string): string => (basis === 'pilot' ? (estimate.pilot ? 'pilot' : 'measured on earlier runs') : basis.replace(/_/g, ' '));
  for (const s of estimate.by_step) {
    // Calls are requests: a batched step (embeddings) serves several items per call.
    const batched = s.requests !== s.items ? ` for ${s.items} items` : '';
    const thinking = s.thinking_tokens.expected > 0 ? ', thinking included' : '';
    line(
      stream,
      `  ${s.step.padEnd(12)} ${s.task.padEnd(9)} ${s.model.padEnd(26)} ${String(s.requests).padStart(7)} calls${batched}  ${usd(s.usd.low)} / ${usd(s.usd.expected)} / ${usd(s.usd.high)}  (${basisLabel(s.basis)}${thinking})`,
    );
    if (s.checks)
      line(
        stream,
        `  ${''.padEnd(22)} checks: ${s.checks.attempts_per_item} attempts per item (assuming ${Math.round(s.checks.assumed_failure_rate * 100)}% of outputs fail; a pilot measures it)${s.checks.judge_usd.expected > 0 ? `, judges ${usd(s.checks.judge_usd.expected)}` : ''}, included`,
      );
    const plan = s.context_cache;
    if (plan) {
      // Both figures, and which wins (issue 29): the step's figures above include the choice.
      line(
        stream,
        `  ${''.padEnd(22)} context cache (${plan.setting}): ${plan.use ? 'used' : 'not used'} for the static prefix of about ${plan.prefix_tokens} tokens: ${plan.reason}`,
      );
      if (plan.mode) line(stream, `  ${''.padEnd(22)} mode auto → ${plan.mode.chosen}: ${plan.mode.reason}`);
    }
    for (const f of s.fallbacks ?? []) {
      line(stream, `  ${''.padEnd(22)} if on fallback ${f.model}: ${usd(f.usd.low)} / ${usd(f.usd.expected)} / ${usd(f.usd.high)}`);
    }
  }
  if (estimate.cached_answers?.answers)
    line(stream, `  ${estimate.cached_answers.answers} of ${estimate.cached_answers.of} answers are in the response cache: $0 (left out of the figures above)`);
  if (estimate.spent_usd > 0) line(stream, `  already spent: ${usd(estimate.spent_usd)}`);
  line(stream, `  total (low / expected / high): ${usd(estimate.total_usd.low)} / ${usd(estimate.total_usd.expected)} / ${usd(estimate.total_usd.high)}`);
  const projects = Object.entries(estimate.requests_by_project)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');
  if (projects) line(stream, `  requests per project: ${projects}`);
  line(stream, `  ETA: ${etaText(estimate)}`);
  if (estimate.pilot) line(stream, `  calibrated by a pilot of ${estimate.pilot.items} item(s)`);
}
