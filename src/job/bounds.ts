import { z } from 'zod';
import { parseDuration } from './duration.js';

/**
 * Every number a person writes in a job or credentials file has a range, and the message says it.
 * Absurd values are not harmless: `concurrency: 100000000` grows the run to gigabytes, and a
 * timeout above Node's timer limit (2^31-1 ms, about 24.8 days) fires after 1 ms, so every call
 * would be aborted and still billed.
 */

/**
 * 1234567.5 → "1,234,567.5", as toLocaleString('en-US') writes it (at most 3 decimals), by hand:
 * every schema builds its messages when genbatch starts, and the first toLocaleString loads ICU's
 * number formats (some 20 ms of each command's start).
 */
function fmt(n: number): string {
  if (!Number.isFinite(n) || Math.abs(n) >= 1e15) return n.toLocaleString('en-US');
  const [whole = '0', fraction] = Math.abs(n).toFixed(3).split('.');
  const decimals = (fraction ?? '').replace(/0+$/, '');
  const text = `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${decimals ? `.${decimals}` : ''}`;
  return n < 0 && text !== '0' ? `-${text}` : text;
}

/** 1000 → 1s, 3600000 → 1h: the largest unit that divides the value. */
function shortDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A whole number from `min` to `max`; the message gives the range and the value seen. */
export function intBetween(min: number, max: number): z.ZodNumber {
  const message = (input: unknown): string =>
    `expected a whole number from ${fmt(min)} to ${fmt(max)}${typeof input === 'number' ? ` (got ${fmt(input)})` : ''}`;
  return z
    .number()
    .int({ error: (issue) => message(issue.input) })
    .min(min, { error: (issue) => message(issue.input) })
    .max(max, { error: (issue) => message(issue.input) });
}

/** A number from `min` (exclusive when `above`) to `max`, e.g. an amount in USD. */
export function numberBetween(min: number, max: number, options: { above?: boolean; unit?: string } = {}): z.ZodNumber {
  const unit = options.unit ?? '';
  const range = options.above ? `above ${unit}${fmt(min)} and at most ${unit}${fmt(max)}` : `from ${unit}${fmt(min)} to ${unit}${fmt(max)}`;
  const message = (input: unknown): string => `expected a number ${range}${typeof input === 'number' ? ` (got ${unit}${fmt(input)})` : ''}`;
  const base = z.number();
  return (options.above ? base.gt(min, { error: (i) => message(i.input) }) : base.min(min, { error: (i) => message(i.input) })).max(max, {
    error: (i) => message(i.input),
  });
}

/** A duration (`500ms`, `10s`, `15m`, `1h`, `1d` or milliseconds) from `minMs` to `maxMs`. */
export function durationBetween(minMs: number, maxMs: number): z.ZodType<string | number> {
  const range = `from ${shortDuration(minMs)} to ${shortDuration(maxMs)}`;
  return z.union([z.string(), z.number()]).superRefine((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like 500ms, 10s, 15m or 1h, ${range}` });
    } else if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `${String(value).trim()} is out of range: expected a duration ${range}` });
    }
  });
}

/** Node's timers hold at most this many milliseconds; anything longer fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
