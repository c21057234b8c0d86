/**
 * genbatch as a library: `import { loadJob, runJob, estimateJob, openState } from 'genbatch'`.
 * See docs/library.md. Errors are the CLI's: ConfigError (invalid input, with file/line/keyPath and
 * hint) and GenbatchError (code, exitCode, retryable, hint).
 */
export { loadJob, type LoadJobOptions, type LoadedJob } from './library/load-job.js';
export { runJob, JobRun, type RunJobOptions, type JobRunSummary, type JobRunEvents } from './library/run-job.js';
export { estimateJob, type EstimateJobOptions } from './library/estimate-job.js';
export { openState, JobState } from './library/open-state.js';
export type { JobEstimate, StepEstimate, Range } from './engine/estimate-job.js';
export type { EngineEvents, RunOutcome } from './engine/events.js';
export type { RunSummary } from './engine/engine.js';
export type { StatusReport } from './engine/status.js';
export type { Job, Step } from './job/job.js';
export type { StepState } from './store/step-state.js';
export type { ItemStepRow } from './store/rows.js';
export type { RejectOutcome } from './library/rejections.js';
export { ConfigError } from './errors/config-error.js';
export { GenbatchError, isGenbatchError } from './errors/genbatch-error.js';
