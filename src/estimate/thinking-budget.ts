import { modelsOf, type Step } from '../job/job.js';
import type { PriceCatalog } from './price-catalog.js';

/**
 * The thinking budget a text step sends, and the rule that keeps room for the reply.
 *
 * On Vertex AI thinking comes first and counts against `maxOutputTokens`: the visible reply gets what
 * is left, and nothing when thinking used it all (`MAX_TOKENS`, no parts, billed all the same). So
 * genbatch lets thinking have at most half of `max_output_tokens` (of the model's longest reply when
 * the step sets none): the reply always keeps the other half.
 * - A budget the step sets (`params.thinking_budget`) that breaks this, or that the model refuses
 *   (out of its range, 0 on a model that always thinks), is refused at validate: the person chose it.
 * - The catalog's default budget is lowered to fit (to 0 when even the model's least does not fit
 *   and the model can turn thinking off); a model that always thinks and whose least does not fit is
 *   refused at validate, naming the max_output_tokens it needs.
 * The estimate and the budget reservation count the same budget, inside max_output_tokens.
 */

/** Longest reply, thinking included, a Gemini 2.5 model gives when the step sets no max_output_tokens. */
export const MODEL_MAX_OUTPUT_TOKENS = 65_536;

/** The share of max_output_tokens kept for the visible reply: thinking may use the rest. */
export const REPLY_SHARE = 0.5;

/** What one call may produce, thinking included: the step's max_output_tokens, else the model's limit. */
export function outputLimit(step: Step): number {
  return step.maxOutputTokens ?? MODEL_MAX_OUTPUT_TOKENS;
}

/** The most thinking tokens the rule allows a call of this step. */
export function thinkingRoom(step: Step): number {
  return Math.floor(outputLimit(step) * (1 - REPLY_SHARE));
}

export interface ThinkingProblem {
  /** Where in the job file: `steps.NAME.params.thinking_budget` or `steps.NAME.max_output_tokens`. */
  keyPath: string;
  message: string;
  hint: string;
}

export interface ThinkingPlan {
  /** The budget sent (`thinkingConfig.thinkingBudget`); undefined: none is sent. */
  budget: number | undefined;
  /** The most thinking tokens one call can use (0: thinking is off). */
  most: number;
  /** The catalog's default budget, when it was lowered to fit max_output_tokens. */
  loweredFrom?: number;
  /** Why validate refuses the step on this model. */
  problem?: ThinkingProblem;
}

const n = (value: number): string => value.toLocaleString('en-US');

function maxTokensText(step: Step): string {
  return step.maxOutputTokens === undefined
    ? `the model's longest reply (${n(MODEL_MAX_OUTPUT_TOKENS)} tokens, as no max_output_tokens is set)`
    : `max_output_tokens (${n(step.maxOutputTokens)})`;
}

/** The budget a step sends on its model, what it lets thinking use, and whether validate refuses it. */
export function thinkingPlan(step: Step, catalog: PriceCatalog): ThinkingPlan {
  if (step.task !== 'text') return { budget: undefined, most: 0 };
  const spec = catalog.priceOf(step.model)?.thinking;
  const room = thinkingRoom(step);
  const own = step.params.thinking_budget;
  const budgetKey = `steps.${step.name}.params.thinking_budget`;
  const on = `step "${step.name}" on ${step.model}`;
  const fits = `Thinking counts against max_output_tokens on Vertex AI, and genbatch keeps at least half of it for the reply (docs/thinking.md).`;

  if (own !== undefined) {
    if (typeof own !== 'number' || !Number.isInteger(own)) {
      return {
        budget: undefined,
        most: 0,
        problem: { keyPath: budgetKey, message: `thinking_budget must be a whole number of tokens, got ${JSON.stringify(own)}`, hint: fits },
      };
    }
    const refuse = (message: string, hint: string, most = Math.max(own, 0)): ThinkingPlan => ({
      budget: own,
      most,
      problem: { keyPath: budgetKey, message: `${on}: ${message}`, hint },
    });
    if (spec) {
      const accepted = `${step.model} takes ${n(spec.min_budget)}–${n(spec.max_budget)}${spec.can_turn_off ? ', 0 (no thinking)' : ''} or -1 (dynamic thinking)`;
      if (own === 0 && !spec.can_turn_off) {
        return refuse(
          `${step.model} cannot turn thinking off: Vertex AI refuses thinking_budget 0 on every call`,
          room >= spec.min_budget
            ? `Give a budget from ${n(spec.min_budget)} to ${n(Math.min(spec.max_budget, room))}, or choose a model that can stop thinking (gemini-2.5-flash).`
            : `Give a budget of ${n(spec.min_budget)} and raise max_output_tokens to at least ${n(2 * spec.min_budget)}, or choose a model that can stop thinking (gemini-2.5-flash).`,
          spec.min_budget,
        );
      }
      if (own === 0) return { budget: 0, most: 0 };
      if (own < -1 || (own > 0 && own < spec.min_budget) || own > spec.max_budget) {
        return refuse(`thinking_budget ${n(own)} is outside what ${accepted}: Vertex AI refuses it on every call`, `Pick a budget in that range.`);
      }
    }
    if (own === 0) return { budget: 0, most: 0 };
    // Dynamic thinking (-1) may use up to the model's limit (all of max_output_tokens when unknown).
    const wants = own === -1 ? (spec?.max_budget ?? outputLimit(step)) : own;
    const most = Math.min(wants, outputLimit(step));
    if (wants > room) {
      const what = own === -1 ? `thinking_budget -1 (dynamic thinking) lets it think up to ${n(wants)} tokens` : `thinking_budget ${n(own)}`;
      const raiseTo = 2 * wants;
      return refuse(
        `${what}, more than half of ${maxTokensText(step)}: the reply could be cut short or come back empty, and each such call is billed`,
        `${fits} Lower thinking_budget to at most ${n(room)}${raiseTo <= MODEL_MAX_OUTPUT_TOKENS ? `, or raise max_output_tokens to at least ${n(raiseTo)}` : ''}.`,
        most,
      );
    }
    return { budget: own, most };
  }

  if (!spec) return { budget: undefined, most: 0 };
  const preferred = spec.default_budget;
  if (preferred === 0 && spec.can_turn_off) return { budget: 0, most: 0 };
  const wanted = preferred === -1 ? spec.max_budget : Math.max(preferred, spec.min_budget);
  if (wanted <= room) return { budget: preferred, most: wanted };
  if (room >= spec.min_budget) return { budget: room, most: room, loweredFrom: preferred };
  if (spec.can_turn_off) return { budget: 0, most: 0, loweredFrom: preferred };
  return {
    budget: spec.min_budget,
    most: spec.min_budget,
    problem: {
      keyPath: `steps.${step.name}.max_output_tokens`,
      message: `${on}: ${step.model} always thinks, at least ${n(spec.min_budget)} tokens, and that is more than half of ${maxTokensText(step)}: the reply could be cut short or come back empty`,
      hint: `${fits} Raise max_output_tokens to at least ${n(2 * spec.min_budget)}, or choose a model that can stop thinking.`,
    },
  };
}

/** What validate refuses about the thinking budgets of a step, on its model and each fallback. */
export function thinkingProblems(step: Step, catalog: PriceCatalog): ThinkingProblem[] {
  const problems = new Map<string, ThinkingProblem>();
  for (const model of modelsOf(step)) {
    const problem = thinkingPlan({ ...step, model }, catalog).problem;
    if (problem && !problems.has(problem.message)) problems.set(problem.message, problem);
  }
  return [...problems.values()];
}
