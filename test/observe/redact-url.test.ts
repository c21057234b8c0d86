import { describe, expect, it } from 'vitest';
import { scrubText, scrubValue } from '../../src/observe/redact.js';
import { classifyError, redactSecrets } from '../../src/resilience/classify-error.js';

/**
 * A user name and password in a URL (http://user:secret@host) are scrubbed from any text, whatever
 * carries it: an error message, a logged value, a classified network failure. The credentials file
 * refuses such endpoints; this is the net under that rule.
 */
describe('user info in URLs is scrubbed everywhere', () => {
  it('scrubText keeps the scheme and host, drops user and password, and is idempotent', () => {
    const text = 'fetch to http://deploy:hunter2@127.0.0.1:8080/v1beta1/projects/p failed';
    const once = scrubText(text);
    expect(once).toBe('fetch to http://[redacted]@127.0.0.1:8080/v1beta1/projects/p failed');
    expect(scrubText(once)).toBe(once);
    expect(scrubText('https://token@example.com/x')).toBe('https://[redacted]@example.com/x');
  });

  it('leaves e-mail addresses, plain URLs and @ in paths alone', () => {
    for (const text of ['mail ops@example.com', 'http://127.0.0.1:8080/a@b', 'see https://example.com/x']) expect(scrubText(text)).toBe(text);
  });

  it('scrubValue scrubs nested strings; classifyError redacts network failures carrying such a URL', () => {
    expect(scrubValue({ error: { url: 'http://u:p4ss@h:1/x' } })).toEqual({ error: { url: 'http://[redacted]@h:1/x' } });
    expect(redactSecrets('http://u:p4ss@h:1/x')).toBe('http://[redacted]@h:1/x');
    const failure = Object.assign(new Error('connect ECONNREFUSED http://u:p4ss@127.0.0.1:9/v1beta1'), { code: 'ECONNREFUSED' });
    expect(classifyError(failure).message).not.toContain('p4ss');
  });
});
