import { z } from 'zod';
import { durationBetween, intBetween, numberBetween } from './bounds.js';

/**
 * The job file, as written by a person. `compileJob` (compile-job.ts) turns it into a `Job` with
 * absolute paths, parsed durations and JSON schemas. Every object is strict: an unknown key is an
 * error that suggests the nearest valid key.
 */

/** Ranges of every number (see bounds.ts): wide enough for any real job, narrow enough to refuse typos and overflows. */
export const LIMITS = {
  concurrency: [1, 1000],
  maxAttempts: [1, 100],
  /** One call: at least a second, at most an hour (Node's timers overflow past 24.8 days). */
  timeoutMs: [1000, 3_600_000],
  maxStallMs: [1000, 7 * 86_400_000],
  maxOutputTokens: [1, 65_536],
  /** Texts per embedding request: Vertex takes 250 instances at most. */
  batchSize: [1, 250],
  pixels: [1, 16_384],
  fontSize: [1, 1000],
  usd: [0, 1_000_000],
  /** Vertex batch prediction: at most 200,000 requests per batch job. */
  batchRequests: [1, 200_000],
  batchMinItems: [1, 100_000_000],
  /** Polls of a batch job: 100ms is for rehearsals against the emulator; a day is the longest sensible wait. */
  batchPollMs: [100, 86_400_000],
} as const;

const callTimeout = durationBetween(...LIMITS.timeoutMs);
const pixels = intBetween(...LIMITS.pixels);
const usd = (above: boolean): z.ZodNumber => numberBetween(LIMITS.usd[0], LIMITS.usd[1], { above, unit: '$' });

const inputSchema = z
  .object({
    file: z.string().min(1).describe('Input file (CSV/TSV/any delimiter, JSON Lines or JSON array), relative to the job file'),
    id: z.string().min(1).describe('Column whose values key the items; must be unique and non-empty'),
    delimiter: z.string().default('auto').describe('auto, or one character such as "," "\\t" "|" ";"'),
    quote: z.enum(['"', "'"]).optional(),
    encoding: z.string().optional().describe('Force an encoding (utf-8, utf-16le, latin1, windows-1252); default detected'),
    on_bad_row: z.enum(['fail', 'repair', 'skip']).default('fail'),
  })
  .strict();

const resizeOp = z
  .object({
    resize: z
      .object({
        width: pixels.optional(),
        height: pixels.optional(),
        fit: z.enum(['cover', 'contain', 'fill', 'inside', 'outside']).default('cover'),
        position: z
          .enum([
            'centre',
            'center',
            'top',
            'right top',
            'right',
            'right bottom',
            'bottom',
            'left bottom',
            'left',
            'left top',
            'north',
            'northeast',
            'east',
            'southeast',
            'south',
            'southwest',
            'west',
            'northwest',
            'entropy',
            'attention',
          ])
          .default('centre'),
      })
      .strict(),
  })
  .strict();
const formatOp = z
  .object({
    format: z.object({ type: z.enum(['png', 'jpeg', 'webp', 'avif']), quality: z.number().int().min(1).max(100).optional() }).strict(),
  })
  .strict();
const overlayTextOp = z
  .object({
    overlay_text: z
      .object({
        text: z.string(),
        position: z.enum(['top', 'bottom']).default('bottom'),
        band_opacity: z.number().min(0).max(1).default(0.6),
        color: z.string().default('#ffffff'),
        band_color: z.string().default('#000000'),
        max_font_size: intBetween(...LIMITS.fontSize).default(64),
      })
      .strict(),
  })
  .strict();
const watermarkOp = z
  .object({
    watermark: z
      .object({
        image: z.string(),
        position: z.enum(['top-left', 'top-right', 'bottom-left', 'bottom-right', 'center']).default('bottom-right'),
        opacity: z.number().min(0).max(1).default(0.5),
        scale: z.number().positive().max(1).default(0.15),
      })
      .strict(),
  })
  .strict();
const stripMetadataOp = z.object({ strip_metadata: z.boolean() }).strict();

export const postOpSchema = z.union([resizeOp, formatOp, overlayTextOp, watermarkOp, stripMetadataOp]);

const outputSchema = z
  .object({
    file: z.string().min(1).describe('File name template, relative to the job output_dir; must stay inside it'),
    post: z.array(postOpSchema).default([]).describe('Image post-processing, in order (sharp)'),
    npy: z.string().optional().describe('Embeddings: also write a float32 .npy file (path relative to output_dir)'),
  })
  .strict();

/** Bounds of a `words:` or `chars:` check: at least one of min and max. */
const countBounds = z.object({ min: intBetween(0, 1_000_000).optional(), max: intBetween(0, 1_000_000).optional() }).strict();
const phrases = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/**
 * One check of a step's output (issue 28), written as one check key, optionally with `field:` (a
 * JSON field of the reply). Every key is listed so an unknown one gets "did you mean"; the compiler
 * refuses an entry with no check key or more than one.
 */
export const checkSchema = z
  .object({
    words: countBounds.optional().describe('Text: the number of words is within { min, max }'),
    chars: countBounds.optional().describe('Text: the number of characters is within { min, max }'),
    contains: phrases.optional().describe('Text: contains every phrase listed (case-sensitive)'),
    not_contains: phrases.optional().describe('Text: contains none of the phrases listed (case-sensitive)'),
    icontains: phrases.optional().describe('Text: contains every phrase listed, ignoring case (promptfoo’s name)'),
    not_icontains: phrases.optional().describe('Text: contains none of the phrases listed, ignoring case'),
    matches: z.string().min(1).optional().describe('Text: matches a regular expression (JavaScript syntax; /re/flags for flags)'),
    not_matches: z.string().min(1).optional().describe('Text: does not match a regular expression'),
    language: z
      .string()
      .regex(/^[a-z]{2}$/i, 'expected an ISO 639-1 language code of two letters, such as fr, de, en')
      .optional()
      .describe('Text: written in this language (ISO 639-1 code)'),
    not_truncated: z.literal(true).optional().describe('Text: the reply was not cut at max_output_tokens (finish reason MAX_TOKENS)'),
    size: z
      .object({ width: pixels.optional(), height: pixels.optional(), minimum: z.boolean().default(false) })
      .strict()
      .optional()
      .describe('Image: exactly width x height pixels (at least, with minimum: true)'),
    not_blank: z.literal(true).optional().describe('Image: not a near-uniform image'),
    aspect: z
      .union([
        z.string().regex(/^\d+(\.\d+)?:\d+(\.\d+)?$/, 'expected W:H, such as 16:9'),
        z
          .object({ ratio: z.string().regex(/^\d+(\.\d+)?:\d+(\.\d+)?$/, 'expected W:H, such as 16:9'), tolerance: z.number().min(0).max(1).default(0.02) })
          .strict(),
      ])
      .optional()
      .describe('Image: width:height ratio, e.g. "16:9" (or { ratio, tolerance }; tolerance 0.02 by default)'),
    judge: z
      .object({
        model: z.string().min(1),
        rubric: z.string().min(1),
        min_score: z.number().min(1).max(5).describe('Lowest passing score, on the judge’s 1-5 scale'),
      })
      .strict()
      .optional()
      .describe('A model scores the output (1-5) against the rubric and says why; it sees the output and the input row'),
    field: z.string().min(1).optional().describe('JSON steps: check this field of the reply instead of the whole text'),
  })
  .strict();

/** What a step does with an output that fails a check. */
export const onFailSchema = z
  .object({
    regenerate: intBetween(0, 10).default(0).describe('Fresh attempts (a new draw) before `then` applies'),
    feedback: z.boolean().default(false).describe('Each fresh attempt’s prompt says which checks the last one failed, and why'),
    then: z
      .enum(['fail', 'keep', 'review'])
      .default('fail')
      .describe('Still failing: fail the step, keep the output (marked), or keep it and queue it for a person in the review page'),
  })
  .strict();

export const stepSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/i, 'step names are letters, digits and _ (they appear in templates as steps.<name>)'),
    renamed_from: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/i)
      .optional()
      .describe("The step's earlier name: its work done under that name is kept instead of being done (and paid for) again"),
    task: z.enum(['text', 'image', 'embedding', 'video']),
    model: z.string().min(1),
    fallback: z
      .array(z.string().min(1))
      .min(1)
      .max(5)
      .optional()
      .describe(
        'Models to use, in order, while no project can serve `model` (quota out, model not available, outage); `model` is used again as soon as it can be',
      ),
    cache: z
      .boolean()
      .optional()
      .describe('Serve identical requests from the response cache (default: on for text, JSON and embeddings, off for images and video)'),
    prompt: z.string().min(1),
    system: z.string().optional(),
    json: z.record(z.string(), z.unknown()).optional().describe('Shorthand { field: string } or a full JSON Schema'),
    max_output_tokens: intBetween(...LIMITS.maxOutputTokens).optional(),
    on_truncated: z
      .enum(['fail', 'keep'])
      .optional()
      .describe(
        'Text and JSON steps: a reply cut at max_output_tokens (finish reason MAX_TOKENS) fails the step (fail, the default) or is kept and marked truncated (keep)',
      ),
    checks: z
      .array(checkSchema)
      .min(1)
      .optional()
      .describe('Checks of each output (issue 28): words, chars, contains, matches, language, not_truncated, size, not_blank, aspect, judge'),
    on_fail: onFailSchema.optional().describe('What a failed check does: regenerate up to N times, then fail, keep or review (default: fail at once)'),
    temperature: z.number().min(0).max(2).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
    output: outputSchema.optional(),
    max_attempts: intBetween(...LIMITS.maxAttempts).optional(),
    pool: z.string().optional().describe('Credential pool this step may use (default: the job pool)'),
    batch_size: intBetween(...LIMITS.batchSize)
      .optional()
      .describe('Embeddings: texts per request'),
    timeout: callTimeout.optional(),
    context_cache: z
      .enum(['auto', 'on', 'off'])
      .optional()
      .describe(
        "Text and JSON steps: keep the request's static prefix (system instruction, fixed text before the first item field) in a Vertex context cache while the step runs; auto (the default): when the estimate shows the discount outweighs the storage",
      ),
    mode: z
      .enum(['online', 'batch', 'auto'])
      .default('online')
      .describe('online: one call per item; batch: Vertex AI batch prediction (half price, up to 24 h); auto: batch when at least batch.min_items wait'),
  })
  .strict();

/** `batch:` of a job: where batch input and output are staged, and how batch jobs are sized and polled. */
const batchSchema = z
  .object({
    staging: z
      .string()
      .regex(/^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}(\/.*)?$/, 'expected gs://BUCKET/PREFIX (a Cloud Storage bucket, lowercase, and an optional prefix)')
      .optional()
      .describe("gs://BUCKET/PREFIX for batch input and output files; default: the credentials entry's staging_bucket"),
    min_items: intBetween(...LIMITS.batchMinItems)
      .default(1000)
      .describe('mode: auto uses batch when a step has at least this many items waiting'),
    max_requests: intBetween(...LIMITS.batchRequests)
      .default(200_000)
      .describe('Requests per batch job (Vertex takes at most 200,000)'),
    poll: durationBetween(...LIMITS.batchPollMs)
      .default('30s')
      .describe('How often a running batch job is polled'),
  })
  .strict();

export const jobFileSchema = z
  .object({
    version: z.literal(1).default(1),
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-" (it names the state file)'),
    input: inputSchema,
    credentials: z.string().min(1).describe('Credentials file, relative to the job file'),
    state: z.string().optional().describe('State file; default .genbatch/<name>.db beside the job file'),
    output_dir: z.string().default('out').describe('Where output files go, relative to the job file'),
    pool: z.string().optional().describe('Credential pool the job may use'),
    steps: z.array(stepSchema).min(1),
    styles: z.record(z.string(), z.string()).default({}),
    limits: z
      .object({
        concurrency: intBetween(...LIMITS.concurrency).default(4),
        max_attempts: intBetween(...LIMITS.maxAttempts).default(5),
        max_stall: durationBetween(...LIMITS.maxStallMs).default('15m'),
        // How long a project's endpoint may stay unreachable (connection refused, DNS) before the run stalls (exit 75).
        max_outage: durationBetween(...LIMITS.maxStallMs).default('10m'),
        timeout: callTimeout.default('120s'),
      })
      .strict()
      .default({ concurrency: 4, max_attempts: 5, max_stall: '15m', max_outage: '10m', timeout: '120s' }),
    budget: z
      .object({
        max_usd: usd(true).optional().describe("Cap on the job's total spend over all its runs (USD)"),
        per_run_usd: usd(true).optional().describe('Cap on the spend of one run (USD); --budget sets it for a run'),
        daily_usd: usd(true).optional(),
        confirm_above_usd: usd(false).default(5),
      })
      .strict()
      .default({ confirm_above_usd: 5 }),
    prices: z.record(z.string(), z.record(z.string(), z.unknown())).optional().describe('Price overrides per model'),
    results: z
      .union([
        z.string(),
        z
          .object({
            file: z.string().min(1),
            fields: z.array(z.string()).optional().describe('Which JSON fields go in, as step.field or step.* (default: all)'),
            delimiter: z
              .string()
              .optional()
              .describe(
                'CSV: one character between cells, such as "," ";" "\\t" (or comma, semicolon, tab, pipe); default: the input’s when it is a spreadsheet export, else ","',
              ),
            bom: z
              .boolean()
              .optional()
              .describe('CSV: start with a UTF-8 byte-order mark, so Excel reads accents right; default: as the input (see docs/results.md)'),
            columns: z.array(z.string().min(1)).optional().describe('Input columns copied into each row, after the id column'),
          })
          .strict(),
      ])
      .optional()
      .describe('Results file (.csv or .jsonl), relative to the job file, or { file, fields, delimiter, bom, columns }'),
    notify: z.string().optional(),
    batch: batchSchema.default({ min_items: 1000, max_requests: 200_000, poll: '30s' }),
  })
  .strict();

export type JobFile = z.infer<typeof jobFileSchema>;
export type StepFile = z.infer<typeof stepSchema>;
export type PostOp = z.infer<typeof postOpSchema>;
export type CheckFile = z.infer<typeof checkSchema>;
