import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { VertexHttpError } from '../vertex-error.js';

/**
 * Gemini API keys: each key is a project for quotas, faults and stats. A key is a secret, so it
 * is turned into a project name here and goes no further (not in stats, the log or any error).
 */

/** The key as the SDK sends it (`x-goog-api-key`), or as `?key=` on the URL. */
export function apiKeyOf(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers['x-goog-api-key'];
  const key = (typeof header === 'string' ? header : undefined) ?? url.searchParams.get('key') ?? undefined;
  return key === undefined || key.trim() === '' ? undefined : key.trim();
}

/** The project of a key not listed in `api_keys`: `aistudio-` and 8 hex digits of its SHA-256. */
export function anonymousKeyProject(key: string): string {
  return `aistudio-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/** Google's answer to a call without a key. */
export function missingApiKey(): VertexHttpError {
  return new VertexHttpError(
    403,
    'PERMISSION_DENIED',
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
  );
}

/** Google's answer to a key it does not know. */
export function invalidApiKey(): VertexHttpError {
  const message = 'API key not valid. Please pass a valid API key.';
  return new VertexHttpError(400, 'INVALID_ARGUMENT', message, {
    details: [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'API_KEY_INVALID',
        domain: 'googleapis.com',
        metadata: { service: 'generativelanguage.googleapis.com' },
      },
      { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
    ],
  });
}

/**
 * The project a call's key counts under: its `api_keys` entry; without `api_keys`, any key, under
 * its anonymous name. Throws Google's 403 (no key) or 400 (a key `api_keys` does not list).
 */
export function keyProject(key: string | undefined, apiKeys: Readonly<Record<string, string>> | undefined): string {
  if (key === undefined) throw missingApiKey();
  if (apiKeys === undefined) return anonymousKeyProject(key);
  const project = Object.hasOwn(apiKeys, key) ? apiKeys[key] : undefined;
  if (project === undefined) throw invalidApiKey();
  return project;
}
