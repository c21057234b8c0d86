import { z } from 'zod';
import { parseDuration } from '../job/duration.js';

/** Limits per project, per model or as `default` (product.md). */
export const quotaSchema = z
  .object({
    rpm: z.number().positive().optional().describe('Requests per minute'),
    requests: z.number().int().positive().optional().describe('Requests per `window`'),
    window: z
      .union([z.string(), z.number()])
      .refine((v) => parseDuration(v) !== undefined, { message: 'expected a duration like 1s, 1m' })
      .optional(),
    rpd: z.number().int().positive().optional().describe('Requests per day'),
    tpm: z.number().int().positive().optional().describe('Tokens per minute'),
    concurrency: z.number().int().positive().optional(),
  })
  .strict()
  .refine((q) => (q.requests === undefined) === (q.window === undefined), {
    message: '`requests` and `window` go together (e.g. { requests: 10, window: 1s })',
  });

export const projectSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-"'),
    project: z.string().min(1).describe('Google Cloud project id'),
    location: z.string().default('us-central1'),
    key_file: z.string().optional().describe('Service-account key file'),
    api_key: z.string().optional().describe('API key (prefer api_key_env)'),
    api_key_env: z.string().optional().describe('Name of the environment variable holding the API key'),
    adc: z.boolean().optional().describe('Use Application Default Credentials'),
    endpoint: z.string().url().optional().describe('Base URL, e.g. http://127.0.0.1:8790 for the emulator'),
    quotas: z.record(z.string(), quotaSchema).default({}),
    pool: z.string().default('default'),
    enabled: z.boolean().default(true),
  })
  .strict();

export const credentialsFileSchema = z
  .object({
    strategy: z.enum(['round-robin', 'fill-first', 'least-loaded']).default('round-robin'),
    projects: z.array(projectSchema).min(1, 'list at least one project'),
    emulator: z.record(z.string(), z.unknown()).optional().describe('Settings for the in-process emulator (--emulator): seed, latency_ms, ...'),
  })
  .strict();

export type CredentialsFile = z.infer<typeof credentialsFileSchema>;
export type ProjectFile = z.infer<typeof projectSchema>;
export type QuotaFile = z.infer<typeof quotaSchema>;
