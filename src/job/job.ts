import type { JsonSchema, TaskKind } from '../providers/provider.js';
import type { PostOp } from './schema.js';

/** A compiled job: absolute paths, parsed durations, JSON schemas. Built once by compileJob. */
export interface Job {
  file: string;
  dir: string;
  name: string;
  input: {
    file: string;
    id: string;
    delimiter: string;
    quote?: string;
    encoding?: string;
    /** What the input reader does with a row whose cell count differs from the header (src/input's BadRowPolicy). */
    onBadRow: 'fail' | 'repair' | 'skip';
  };
  credentialsFile: string;
  stateFile: string;
  outputDir: string;
  pool?: string;
  steps: Step[];
  styles: Record<string, string>;
  limits: { concurrency: number; maxAttempts: number; maxStallMs: number; timeoutMs: number; maxOutageMs: number };
  budget: { maxUsd?: number; perRunUsd?: number; dailyUsd?: number; confirmAboveUsd: number };
  prices?: Record<string, Record<string, unknown>>;
  resultsFile?: string;
  /** JSON fields for the results file (`step.field`, `step.*`); default all. */
  resultsFields?: string[];
  /** `results: { delimiter, bom, columns }` as written (absent for `results: PATH`); unset keys follow the input (src/outputs/results-dialect.ts). */
  resultsFormat?: ResultsFormat;
  /** How the input file is written, found when prepareJob read it: a spreadsheet export's results follow it. */
  inputDialect?: InputDialect;
  notify?: string;
  /** Vertex AI batch prediction settings (steps with `mode: batch` or `auto`). */
  batch?: BatchSettings;
  /**
   * Line numbers in the job file of keys that later checks report on, by key path
   * (`credentials`, `steps.<name>.model`).
   */
  lines?: Record<string, number>;
}

export interface ResultsFormat {
  delimiter?: string;
  bom?: boolean;
  /** Input columns copied into each row of the results, after the id column. */
  columns?: string[];
}

/** What detection found in the input file that a results file for the same people can mirror. */
export interface InputDialect {
  /** Delimited text exported by a spreadsheet program: a BOM, semicolons, Excel's `sep=` line, or an encoding other than UTF-8. */
  spreadsheet: boolean;
  /** The input's delimiter (delimited text only). */
  delimiter?: string;
  bom: boolean;
  crlf: boolean;
  /** The input's encoding as detected or forced (`utf-8`, `windows-1252`, `utf-16le`...). */
  encoding: string;
}

export interface Step {
  name: string;
  task: TaskKind;
  model: string;
  prompt: string;
  system?: string;
  jsonSchema?: JsonSchema;
  maxOutputTokens?: number;
  /** A text or JSON reply cut at max_output_tokens: fail the step (default) or keep it, marked truncated. */
  onTruncated?: 'fail' | 'keep';
  temperature?: number;
  params: Record<string, unknown>;
  output?: { file: string; post: PostOp[]; npy?: string };
  maxAttempts: number;
  pool?: string;
  batchSize?: number;
  timeoutMs: number;
  /** The step's earlier name (`renamed_from:`): its done work is carried over to this name. */
  renamedFrom?: string;
  /** online, batch (Vertex AI batch prediction), or auto (batch when at least batch.minItems wait). */
  mode?: StepMode;
  /** Models used, in order, while no project can serve `model`; `model` again as soon as it can. */
  fallback?: string[];
  /** Whether identical requests are served from the response cache (the task's default when absent). */
  cache?: boolean;
  /** An explicit Vertex context cache for the static prefix (issue 29): auto when absent. */
  contextCache?: ContextCacheSetting;
  /** Checks of each output (`checks:`), in the job file's order. */
  checks?: StepCheck[];
  /** What a failed check does (`on_fail:`); with checks and no on_fail: fail at once. */
  onFail?: OnFail;
}

/** Where a check looks: the reply's text, or one field of its JSON (`field:`). */
interface CheckTarget {
  field?: string;
}

/** One compiled check of a step (issue 28): `check` is the job file's key. */
export type StepCheck =
  | (CheckTarget & { check: 'words' | 'chars'; min?: number; max?: number })
  | (CheckTarget & { check: 'contains' | 'not_contains' | 'icontains' | 'not_icontains'; phrases: string[] })
  /** `pattern` is compiled when the job is loaded (a bad one is a config error); `source` is as written. */
  | (CheckTarget & { check: 'matches' | 'not_matches'; pattern: RegExp; source: string })
  | (CheckTarget & { check: 'language'; language: string })
  | { check: 'not_truncated' }
  | { check: 'size'; width?: number; height?: number; minimum: boolean }
  | { check: 'not_blank' }
  | { check: 'aspect'; width: number; height: number; tolerance: number }
  | (CheckTarget & { check: 'judge'; model: string; rubric: string; minScore: number });

export type CheckName = StepCheck['check'];

/** Checks of a text (or a JSON field); checks of an image; a judge looks at either. */
export const TEXT_CHECKS: readonly CheckName[] = [
  'words',
  'chars',
  'contains',
  'not_contains',
  'icontains',
  'not_icontains',
  'matches',
  'not_matches',
  'language',
  'not_truncated',
];
export const IMAGE_CHECKS: readonly CheckName[] = ['size', 'not_blank', 'aspect'];

export interface OnFail {
  /** Fresh attempts (new draws) after a failed check, at most, ever: a resumed run counts the earlier ones. */
  regenerate: number;
  /** The failed checks' reasons are added to the next attempt's prompt. */
  feedback: boolean;
  then: 'fail' | 'keep' | 'review';
}

export type ContextCacheSetting = 'auto' | 'on' | 'off';

/** The step's models in order of preference: its own, then its fallbacks. */
export function modelsOf(step: Pick<Step, 'model' | 'fallback'>): string[] {
  return [step.model, ...(step.fallback ?? [])];
}

/** Whether the step's requests go through the response cache: on for text, JSON and embeddings; images and video opt in. */
export function cachesResponses(step: Pick<Step, 'task' | 'cache'>): boolean {
  return step.cache ?? (step.task === 'text' || step.task === 'embedding');
}

export type StepMode = 'online' | 'batch' | 'auto';

export interface BatchSettings {
  /** gs://BUCKET/PREFIX, when the job names one (else the credentials entry's staging_bucket). */
  staging?: string;
  minItems: number;
  maxRequests: number;
  pollMs: number;
}

/** Why batch prediction cannot run this step (Imagen, Veo, embeddings), or undefined when it can. */
export function batchRefusal(step: Pick<Step, 'task' | 'model'>): string | undefined {
  if (step.task === 'video') return `video (${step.model}) is not served by Vertex AI batch prediction`;
  if (step.task === 'embedding') return 'embedding steps stay online (their batch API is not supported by genbatch yet)';
  if (!step.model.startsWith('gemini')) return `${step.model} is not served by Vertex AI batch prediction (Gemini text, JSON and image models are)`;
  return undefined;
}

/** Fields a step exposes to later steps as {{steps.<name>.<field>}}. */
export function stepFields(step: Step): string[] {
  const fields = ['text'];
  if (step.output) fields.push('file');
  const properties = step.jsonSchema?.properties;
  if (properties && typeof properties === 'object') fields.push(...Object.keys(properties));
  return fields;
}
