import { invalidArgument } from '../vertex-error.js';
import type { BatchJob } from './batch-job.js';

/**
 * The part of Vertex's list `filter` syntax the emulator reads: comparisons of `display_name`,
 * `state`, `model` or `labels.KEY` with `=` or `!=`, joined by AND, e.g.
 * `state="JOB_STATE_RUNNING" AND labels.genbatch_job="blog"`. Anything else is refused with a 400.
 */
type Term = { field: string; negate: boolean; value: string };

const TERM = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(!=|=)\s*(?:"([^"]*)"|([^\s"]+))\s*$/;

export function parseListFilter(filter: string | null): ((job: BatchJob, now: number) => boolean) | undefined {
  if (!filter || filter.trim() === '') return undefined;
  const terms: Term[] = filter.split(/\s+AND\s+/).map((text) => {
    const match = TERM.exec(text);
    const field = match?.[1];
    if (!match || !field || !(['display_name', 'displayName', 'state', 'model'].includes(field) || field.startsWith('labels.'))) {
      throw invalidArgument(
        `Unsupported filter "${text.trim()}": the emulator reads display_name, state, model and labels.KEY compared with = or !=, joined by AND.`,
      );
    }
    return { field, negate: match[2] === '!=', value: match[3] ?? match[4] ?? '' };
  });
  return (job, now) =>
    terms.every((term) => {
      const actual =
        term.field === 'state'
          ? job.state(now)
          : term.field === 'model'
            ? `publishers/google/models/${job.fields.model}`
            : term.field.startsWith('labels.')
              ? job.fields.labels?.[term.field.slice('labels.'.length)]
              : job.fields.displayName;
      const equal = term.field === 'model' ? actual === term.value || job.fields.model === term.value : actual === term.value;
      return term.negate ? !equal : equal;
    });
}
