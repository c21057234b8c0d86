import { prepareJob, type PreparedJob } from '../engine/prepare-job.js';

export interface LoadJobOptions {
  /** The job will run against the emulator: key files and API keys of the credentials are not read. */
  emulator?: boolean;
}

/** A job checked and ready to run: the compiled job, its credentials, prices and the input's row count. */
export type LoadedJob = PreparedJob;

/**
 * Reads and checks a job file, its credentials file and its input, as `genbatch validate` does.
 * Invalid input throws a ConfigError (file, line, key path and hint), before any call.
 */
export function loadJob(jobFile: string, options: LoadJobOptions = {}): Promise<LoadedJob> {
  return prepareJob(jobFile, { emulated: options.emulator ?? false, reuseValidation: true });
}
