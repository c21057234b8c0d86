import { z } from 'zod';
import { durationBetween, intBetween, numberBetween } from '../job/bounds.js';
import { LIMITS } from '../job/schema.js';

/** Which kind of quota governs the calls (docs/rate-limiting.md): forces what genbatch would infer. */
const quotaKindSchema = z
  .enum(['shared', 'fixed'])
  .describe('shared: dynamic shared capacity per model and location (adaptive window, no cooldown); fixed: a per-project quota (cooldowns)');

/**
 * Limits per project, per model or as `default` (product.md). Every number has a range (far above
 * any real Vertex quota, far below what overflows a timer or a counter), named in the message.
 */
export const quotaSchema = z
  .object({
    rpm: numberBetween(0, 1_000_000, { above: true }).optional().describe('Requests per minute'),
    requests: intBetween(1, 1_000_000).optional().describe('Requests per `window`'),
    window: durationBetween(10, 86_400_000).optional(),
    rpd: intBetween(1, 1_000_000_000).optional().describe('Requests per day'),
    tpm: intBetween(1, 10_000_000_000).optional().describe('Tokens per minute'),
    concurrency: intBetween(...LIMITS.concurrency).optional(),
    quota: quotaKindSchema.optional(),
  })
  .strict()
  .refine((q) => (q.requests === undefined) === (q.window === undefined), {
    message: '`requests` and `window` go together (e.g. { requests: 10, window: 1s })',
  });

/**
 * A base URL without user info: `http://user:secret@host` would carry a password into every
 * message, log and state file that names the endpoint. The secret belongs in api_key_env or key_file.
 */
const endpointSchema = z
  .string()
  .url({ error: 'expected a URL such as http://127.0.0.1:8790' })
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return;
    }
    if (url.username !== '' || url.password !== '') {
      ctx.addIssue({
        code: 'custom',
        message:
          'the URL carries a user name or password (scheme://user:password@host); they would show in messages and logs. Remove them from the URL and put the secret in api_key_env, api_key or key_file',
      });
    }
    if (!/^https?:$/.test(url.protocol)) ctx.addIssue({ code: 'custom', message: `expected an http:// or https:// URL, not ${url.protocol}//` });
  });

export const projectSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-"'),
    api: z
      .enum(['vertex', 'gemini'])
      .default('vertex')
      .describe('vertex: a Vertex AI project; gemini: a Gemini API (Google AI Studio) key, given by api_key_env or api_key'),
    project: z.string().min(1).optional().describe('Google Cloud project id (Vertex AI entries); for api: gemini, a label for the key (default: the name)'),
    location: z.string().default('us-central1'),
    key_file: z.string().optional().describe('Service-account key file'),
    api_key: z.string().optional().describe('API key (prefer api_key_env)'),
    api_key_env: z.string().optional().describe('Name of the environment variable holding the API key'),
    adc: z.boolean().optional().describe('Use Application Default Credentials'),
    endpoint: endpointSchema.optional().describe('Base URL, e.g. http://127.0.0.1:8790 for the emulator'),
    quotas: z.record(z.string(), quotaSchema).default({}),
    quota: quotaKindSchema.optional(),
    pool: z.string().default('default'),
    enabled: z.boolean().default(true),
    staging_bucket: z
      .string()
      .regex(/^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}(\/.*)?$/, 'expected gs://BUCKET or gs://BUCKET/PREFIX')
      .optional()
      .describe('Cloud Storage staging for batch prediction when the job names no batch.staging'),
  })
  .strict();

/**
 * Where runs share limits, cooldowns and budgets beyond one host: `redis://HOST:PORT` (or `rediss://`
 * for TLS; a password may be given as `redis://:PASSWORD@HOST:PORT`, and is never printed).
 */
const coordinationSchema = z.string().superRefine((value, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !/^rediss?:$/.test(url.protocol) || url.hostname === '') {
    ctx.addIssue({ code: 'custom', message: 'expected a Redis URL such as redis://127.0.0.1:6379 (rediss:// for TLS)' });
  }
});

/** A daily budget shared by every job that uses this credentials file (on one host, or with `coordination:` many). */
const sharedBudgetSchema = z
  .object({
    daily_usd: numberBetween(0, 1_000_000, { above: true, unit: '$' }).describe("Cap on the day's spend (UTC day) of every job using this file, together"),
    alert_at: numberBetween(0, 1, { above: true }).default(0.8).describe('Share of daily_usd at which the notify webhook is sent, once per day'),
  })
  .strict();

export const credentialsFileSchema = z
  .object({
    strategy: z.enum(['round-robin', 'fill-first', 'least-loaded']).default('round-robin'),
    coordination: coordinationSchema.optional().describe('redis://HOST:PORT: share limits, cooldowns and budgets between hosts'),
    budget: sharedBudgetSchema.optional(),
    projects: z.array(projectSchema).min(1, 'list at least one project'),
    emulator: z.record(z.string(), z.unknown()).optional().describe('Settings for the in-process emulator (--emulator): seed, latency_ms, ...'),
  })
  .strict();

export type CredentialsFile = z.infer<typeof credentialsFileSchema>;
export type ProjectFile = z.infer<typeof projectSchema>;
export type QuotaFile = z.infer<typeof quotaSchema>;
