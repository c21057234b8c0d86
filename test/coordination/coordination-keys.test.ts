import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { budgetScope, projectKey, quotaKey } from '../../src/coordination/quota-key.js';
import { sharedDir } from '../../src/coordination/shared-dir.js';
import { loadCredentials } from '../../src/credentials/load-credentials.js';
import { ConfigError, ConfigErrors } from '../../src/errors/config-error.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

function credentials(top: string): string {
  const file = join(tempDir(), 'credentials.yaml');
  writeFileSync(file, `${top}projects:\n  - { name: prod, project: my-prod, location: us-central1, api_key_env: PROD_KEY }\n`);
  return file;
}

async function problems(file: string): Promise<ConfigError[]> {
  const error = await loadCredentials(file, { emulated: true }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error instanceof ConfigErrors ? error.problems : [error as ConfigError];
}

describe('credentials file: coordination and budget', () => {
  it('compiles coordination: redis://… (the password never in the display form) and budget: with alert_at 0.8 by default', async () => {
    const loaded = await loadCredentials(credentials('coordination: redis://:s3cret@redis.internal:6380/2\nbudget: { daily_usd: 25 }\n'), { emulated: true });
    expect(loaded.coordination).toEqual({ kind: 'redis', url: 'redis://:s3cret@redis.internal:6380/2', display: 'redis://redis.internal:6380' });
    expect(loaded.budget).toEqual({ dailyUsd: 25, alertAt: 0.8 });
  });

  it('refuses a coordination that is not a Redis URL and a budget out of range, naming file, line and key (exit 2)', async () => {
    const file = credentials('coordination: http://redis.internal:6379\nbudget: { daily_usd: 0, alert_at: 1.5, weekly_usd: 3 }\n');
    const found = await problems(file);
    const messages = found.map((p) => p.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        `${file}:1: coordination: expected a Redis URL such as redis://127.0.0.1:6379 (rediss:// for TLS)`,
        expect.stringMatching(new RegExp(`^${file}:2: budget\\.daily_usd: expected a number above \\$0`)),
        expect.stringMatching(new RegExp(`^${file}:2: budget\\.alert_at: expected a number above 0 and at most 1`)),
        expect.stringMatching(new RegExp(`^${file}:2: budget\\.weekly_usd: unknown key "weekly_usd"`)),
      ]),
    );
    expect(found.every((p) => p.exitCode === 2)).toBe(true);
  });
});

describe('what runs share under', () => {
  it('keys quotas by endpoint, project, location and model, whatever the entry is named', () => {
    const a = { project: 'my-prod', location: 'us-central1' };
    const b = { project: 'my-prod', location: 'us-central1', endpoint: 'http://127.0.0.1:8790/' };
    expect(quotaKey(a, 'gemini-2.5-flash')).toBe('vertex|my-prod|us-central1|gemini-2.5-flash');
    expect(quotaKey(b, 'gemini-2.5-flash')).toBe('http://127.0.0.1:8790|my-prod|us-central1|gemini-2.5-flash');
    expect(projectKey(b)).toBe('http://127.0.0.1:8790|my-prod');
  });

  it('scopes a shared budget by the projects it spends on, not by where the file is', () => {
    const one = [{ project: 'p1' }, { project: 'p2' }];
    expect(budgetScope(one)).toBe(budgetScope([{ project: 'p2' }, { project: 'p1' }, { project: 'p1' }]));
    expect(budgetScope(one)).not.toBe(budgetScope([{ project: 'p1' }]));
  });

  it('meets in GENBATCH_SHARED_DIR, else the XDG state folder, else ~/.local/state', () => {
    expect(sharedDir({ GENBATCH_SHARED_DIR: '/srv/genbatch-shared' })).toBe('/srv/genbatch-shared');
    expect(sharedDir({ XDG_STATE_HOME: '/home/ops/.state' })).toBe('/home/ops/.state/genbatch');
    expect(sharedDir({ XDG_STATE_HOME: 'relative' })).toMatch(/\/\.local\/state\/genbatch$/);
  });
});
