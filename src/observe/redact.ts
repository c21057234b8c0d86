import type { Credentials } from '../credentials/credentials.js';
import { placeholderKey } from '../credentials/placeholder-key.js';

export const REDACTED = '[redacted]';

/** Object keys whose values are secrets wherever they appear (compared case-insensitively, without `_` or `-`). */
const SECRET_KEY_NAMES = new Set([
  'apikey',
  'key',
  'authorization',
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'secret',
  'clientsecret',
  'password',
  'privatekey',
  'xgoogapikey',
]);

export function isSecretKey(key: string): boolean {
  return SECRET_KEY_NAMES.has(key.toLowerCase().replace(/[-_]/g, ''));
}

/**
 * Shapes of key material inside free text (error messages, URLs, headers copied into a message).
 * Each keeps what says what the thing was and replaces the secret part.
 */
const TEXT_PATTERNS: [RegExp, string][] = [
  // PEM private keys (a service-account JSON pasted somewhere it should not be).
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
  // Google API keys and OAuth access tokens.
  [/AIza[0-9A-Za-z_-]{20,}/g, REDACTED],
  [/ya29\.[0-9A-Za-z._-]+/g, REDACTED],
  // Authorization headers and bearer tokens.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [/\b(authorization|x-goog-api-key)(["']?\s*[:=]\s*["']?)(?!\[redacted\]|(?:Bearer|Basic)\s+\[redacted\])[^\s"',;}]+(?:\s+[^\s"',;}]+)?/gi, `$1$2${REDACTED}`],
  // key=..., api_key=..., token=... in URLs, query strings and "k=v" text.
  [/\b((?:api[_-]?)?key|access[_-]?token|token|secret|password|sig|signature)=(?!\[redacted\])[^&\s"'<>]+/gi, `$1=${REDACTED}`],
  // A user name and password in a URL: http://user:secret@host keeps its scheme and host.
  [/\b([a-z][a-z0-9+.-]*:\/\/)(?!\[redacted\]@)[^\s/?#@"'<>]+@/gi, `$1${REDACTED}@`],
  // "apiKey": "...", "private_key": "..." inside JSON text.
  [/("(?:api[_-]?key|apiKey|key|authorization|token|access_token|secret|password|private_key|client_secret)"\s*:\s*")(?:[^"\\]|\\.)*"/g, `$1${REDACTED}"`],
];

/** Every shape above starts with one of these: a string without any cannot match a pattern. */
const MIGHT_HOLD_A_SECRET = /PRIVATE KEY|AIza|ya29\.|bearer|basic|authorization|x-goog-api-key|key|token|secret|password|sig|:\/\/[^\s/?#@"'<>]+@/i;

/**
 * Removes key material from a string: known secret values (exact) first, then the shapes above.
 * Safe to run twice.
 */
export function scrubText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(REDACTED);
  // Most strings (ids, names, ordinary messages) hold none of the shapes: one test, not seven replaces.
  if (!MIGHT_HOLD_A_SECRET.test(out)) return out;
  for (const [pattern, replacement] of TEXT_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A deep copy with secret keys replaced and every string scrubbed. */
export function scrubValue<T>(value: T, secrets: readonly string[] = [], depth = 0): T {
  if (typeof value === 'string') return scrubText(value, secrets) as T;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => scrubValue(v, secrets, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? REDACTED : scrubValue(v, secrets, depth + 1);
  }
  return out as T;
}

/**
 * The secret values a credentials file holds (API keys from the file or the environment), so logs
 * and notifications can remove them even when they have no recognisable shape. A placeholder
 * (`api_key: emulator`, `test`, anything shorter than a real key) is no secret: removing it would
 * blank that word wherever it appears ("[redacted] blocked_terms" for "emulator blocked_terms").
 */
export function secretsOf(credentials: Pick<Credentials, 'projects'>): string[] {
  const values = new Set<string>();
  for (const project of credentials.projects) {
    if (project.auth.kind === 'api_key' && !placeholderKey(project.auth.apiKey)) values.add(project.auth.apiKey);
  }
  return [...values];
}

/** A URL fit to show a person: origin and path only, never its query, user info or a token in the path. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // Webhook URLs carry their secret in the path (Slack /services/T/B/XXXX, Telegram /bot<token>/...).
    return `${parsed.protocol}//${parsed.host}/…`;
  } catch {
    return '(invalid URL)';
  }
}
