/**
 * Whether an API key is a stand-in rather than a key: the demo's `api_key: emulator`, `any`,
 * `test`, `changeme`... Google API keys are 39 characters (`AIza` and 35 more), so anything short
 * is not one either. Used only for projects with no endpoint, whose calls would go to Vertex AI.
 */
const PLACEHOLDERS = new Set([
  'emulator',
  'emulated',
  'any',
  'test',
  'testing',
  'dummy',
  'fake',
  'placeholder',
  'changeme',
  'change-me',
  'none',
  'null',
  'todo',
  'example',
  'secret',
  'key',
  'apikey',
  'api-key',
  'your-api-key',
  'your_api_key',
  'xxx',
]);

/** The code of the problem "a placeholder key and no endpoint, without --emulator". */
export const PLACEHOLDER_KEY = 'PLACEHOLDER_KEY';

/** Shorter than any real Google API key. */
const MIN_REAL_KEY_LENGTH = 20;

export function placeholderKey(value: string): boolean {
  const key = value.trim();
  return PLACEHOLDERS.has(key.toLowerCase()) || /^(.)\1*$/.test(key) || key.length < MIN_REAL_KEY_LENGTH;
}
