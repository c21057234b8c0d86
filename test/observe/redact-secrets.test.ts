import { describe, expect, it } from 'vitest';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { scrubValue, secretsOf } from '../../src/observe/redact.js';

const project = (apiKey: string): ProjectCredentials => ({ auth: { kind: 'api_key', apiKey, source: 'file' } }) as unknown as ProjectCredentials;

describe('secretsOf: the values removed from logs and notifications', () => {
  it('keeps placeholder keys out (emulator, test, anything shorter than a real key): they are words, not secrets', () => {
    expect(secretsOf({ projects: ['emulator', 'test', 'changeme', 'abc12345', 'xxxxxxxxxxxxxxxxxxxxxxxx'].map(project) })).toEqual([]);
    const summary = { failures: [{ message: 'The prompt was blocked by the safety filters (emulator blocked_terms).' }] };
    expect(scrubValue(summary, secretsOf({ projects: [project('emulator')] }))).toEqual(summary);
  });

  it('keeps a real key in, whatever its shape, and it is removed wherever it appears', () => {
    const key = 'q7Hk2Lm9Zp4Xw8Rt6Vn3Bc5Jd1Fg0Sy2Ua7Ee';
    const secrets = secretsOf({ projects: [project(key), project('emulator')] });
    expect(secrets).toEqual([key]);
    expect(scrubValue({ message: `request with ${key} refused` }, secrets)).toEqual({ message: 'request with [redacted] refused' });
  });
});
