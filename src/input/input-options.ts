import type { InputOptions } from './input-source.js';
import type { Job } from '../job/job.js';

/** The input reader's options from a compiled job. */
export function inputOptionsOf(job: Job): InputOptions {
  return {
    file: job.input.file,
    delimiter: job.input.delimiter,
    onBadRow: job.input.onBadRow,
    ...(job.input.quote === undefined ? {} : { quote: job.input.quote }),
    ...(job.input.encoding === undefined ? {} : { encoding: job.input.encoding }),
  };
}
