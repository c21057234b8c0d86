/** The input layer: everything else imports from here. */
export type { BadRowPolicy, InputFormat, InputOptions, InputRecord, OpenedInput } from './input-source.js';
export type { Problem, ProblemKind, RowRepair } from './problem.js';
export { isRepairable, stopsReading } from './problem.js';
export type { InputLayout } from './input-layout.js';
export { showChar, type Dialect } from './csv-dialect.js';
export type { DetectedEncoding } from './encoding.js';
export { openInput, type OpenedInputFile } from './open-input.js';
export { validateInput, validateRecords, MAX_PROBLEMS, type InputValidation } from './validate-input.js';
export { inspectInput, type InspectReport } from './inspect-input.js';
export { repairInput, type RepairResult } from './repair-input.js';
export { badRowsError, unhandledProblems } from './bad-rows-error.js';
export { describeInput } from './describe-input.js';
// A job's rows: the check validate and run make, the sync into the state, and the fingerprint that lets a resume skip both.
export { inputOptionsOf } from './input-options.js';
export { checkJobInput, type CheckedInput } from './check-job-input.js';
export { syncItems } from './sync-items.js';
export { fingerprintInput, lastSync, lastValidation, META, stalenessKey, syncKey, type InputFingerprint, type SyncRecord } from './input-fingerprint.js';
