import { GenbatchError } from './genbatch-error.js';

/**
 * A batch step stopped for this run while the rest of the run goes on: its output lines could not
 * all be matched to items (BATCH_UNMATCHED), lines Vertex billed cannot be read (deleted, cut or
 * garbled output: BATCH_OUTPUT_UNREADABLE), or its Cloud Storage staging failed (BATCH_STAGING_FAILED). Its other items are not submitted again in new batch jobs by this run.
 */
export class BatchStepStoppedError extends GenbatchError {
  constructor(
    readonly step: string,
    code: 'BATCH_UNMATCHED' | 'BATCH_OUTPUT_UNREADABLE' | 'BATCH_STAGING_FAILED',
    message: string,
    hint: string,
    cause?: unknown,
  ) {
    super(message, { code, hint, cause, exitCode: 1 });
  }
}

export function isBatchStepStoppedError(value: unknown): value is BatchStepStoppedError {
  return value instanceof BatchStepStoppedError;
}
