import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/credentials/client-factory.js';
import type { ProjectCredentials } from '../../src/credentials/credentials.js';
import { keyFileProblem } from '../../src/credentials/key-file.js';
import { loadCredentials } from '../../src/credentials/load-credentials.js';
import { reactionTo } from '../../src/engine/error-reactions.js';
import { ConfigError, ConfigErrors } from '../../src/errors/config-error.js';
import { CredentialRejectedError } from '../../src/errors/provider-errors.js';
import { classifyError } from '../../src/resilience/classify-error.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

const rsaPem = (): string => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const DAMAGED_PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCdamaged\n-----END PRIVATE KEY-----\n';

function serviceAccount(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'service_account', project_id: 'p', client_email: 'a@p.iam.gserviceaccount.com', private_key: rsaPem(), ...fields });
}

function write(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function refusal(file: string, options: Parameters<typeof loadCredentials>[1] = {}): Promise<string[]> {
  const error = await loadCredentials(file, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).exitCode).toBe(2);
  return error instanceof ConfigErrors ? error.problems.map((p) => p.message) : [(error as ConfigError).message];
}

describe('service-account key files are checked before any call', () => {
  it('keyFileProblem: a good key passes; each way of being broken is named, the secret never quoted', () => {
    const dir = tempDir();
    expect(keyFileProblem(write(dir, 'good.json', serviceAccount()))).toBeUndefined();
    expect(keyFileProblem(write(dir, 'damaged.json', serviceAccount({ private_key: DAMAGED_PEM })))).toMatch(/private key that does not parse/);
    expect(keyFileProblem(write(dir, 'pem.json', DAMAGED_PEM))).toMatch(/is not valid JSON/);
    expect(keyFileProblem(write(dir, 'user.json', JSON.stringify({ type: 'authorized_user', refresh_token: 'r' })))).toMatch(
      /"authorized_user", not "service_account"/,
    );
    expect(keyFileProblem(write(dir, 'bare.json', JSON.stringify({ type: 'service_account' })))).toBe('has no "client_email" or "private_key"');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(keyFileProblem(write(dir, 'ec.json', serviceAccount({ private_key: ec })))).toMatch(/of type ec, not RSA/);
    expect(keyFileProblem(join(dir, 'missing.json'))).toBe('does not exist');
    for (const name of ['damaged.json', 'pem.json']) expect(keyFileProblem(join(dir, name))).not.toContain('MIIE');
  });

  it('loadCredentials names the credentials file and line, the key path, the project and the key file (exit 2)', async () => {
    const dir = tempDir();
    write(dir, 'sa.json', serviceAccount({ private_key: DAMAGED_PEM }));
    const file = write(dir, 'credentials.yaml', 'projects:\n  - name: prod\n    project: my-prod\n    key_file: sa.json\n');
    const [message] = await refusal(file);
    expect(message).toMatch(/credentials\.yaml:4: projects\[0\]\.key_file: project "prod": key_file .*sa\.json has a private key that does not parse/);
    expect(message).not.toContain('MIIE');
    // With --emulator no key file is read.
    await expect(loadCredentials(file, { emulated: true })).resolves.toMatchObject({ projects: [{ name: 'prod' }] });
  });
});

describe('a key file that breaks during a run disables its project, as a 403 does', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startTestEmulator();
  });
  afterAll(() => t.close());

  it('the client of a damaged key fails before sending, with CredentialRejectedError, whose reaction disables the project', async () => {
    const keyFile = write(tempDir(), 'sa.json', serviceAccount({ private_key: DAMAGED_PEM }));
    const project: ProjectCredentials = {
      name: 'keyed',
      project: 'keyed-project',
      location: 'us-central1',
      auth: { kind: 'key_file', keyFile },
      endpoint: t.url,
      quotas: {},
      pool: 'default',
      enabled: true,
    };
    const thrown = await createClient(project)
      .models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const classified = classifyError(thrown);
    expect(classified).toBeInstanceOf(CredentialRejectedError);
    expect(classified.message).toMatch(/sa\.json of project "keyed" has a private key that does not parse/);
    expect(reactionTo(classified)).toMatchObject({ project: 'disable', unit: 'requeue', countsAttempt: false });
    expect(t.stats().projects['keyed-project']?.requests ?? 0).toBe(0);
  });

  it('classifyError: failures of the credential itself (OpenSSL, no ADC, token endpoint refusal) are CredentialRejectedError, not INVALID_REQUEST', () => {
    const openssl = Object.assign(new Error('error:1E08010C:DECODER routines::unsupported'), { code: 'ERR_OSSL_UNSUPPORTED' });
    const noAdc = new Error(
      'Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication/getting-started for more information.',
    );
    const jwa = new TypeError('key must be a string, a buffer or an object');
    const token = Object.assign(new Error('invalid_grant: Invalid JWT Signature.'), {
      config: { url: 'https://oauth2.googleapis.com/token' },
      response: { status: 400 },
    });
    for (const error of [openssl, noAdc, jwa, token]) {
      const classified = classifyError(error);
      expect(classified, error.message).toBeInstanceOf(CredentialRejectedError);
      expect(reactionTo(classified).project).toBe('disable');
    }
  });
});

describe('credentials that would leak or go nowhere', () => {
  it('an endpoint with a user name and password is refused, and the password is not repeated', async () => {
    const file = write(
      tempDir(),
      'credentials.yaml',
      'projects:\n  - name: a\n    project: p\n    api_key_env: A_KEY\n    endpoint: "http://user:hunter2@127.0.0.1:8080"\n',
    );
    const messages = await refusal(file, { env: { A_KEY: 'AIzaSyD-abcdefghijklmnopqrstuvwxyz012345' } });
    expect(messages).toEqual([expect.stringMatching(/credentials\.yaml:5: projects\[0\]\.endpoint: the URL carries a user name or password .* api_key_env/)]);
    expect(messages.join('\n')).not.toContain('hunter2');
  });

  it('a placeholder key with no endpoint is refused unless emulated; with an endpoint or a real-looking key it is fine', async () => {
    const dir = tempDir();
    const demo = write(dir, 'demo.yaml', 'projects:\n  - name: blog\n    project: blog\n    api_key: emulator\n');
    expect(await refusal(demo)).toEqual([
      expect.stringMatching(
        /demo\.yaml:4: projects\[0\]\.api_key: project "blog": api_key is a placeholder, not a Google API key, and the project has no endpoint/,
      ),
    ]);
    await expect(loadCredentials(demo, { emulated: true })).resolves.toBeDefined();
    const pointed = write(dir, 'pointed.yaml', 'projects:\n  - { name: a, project: a, api_key: any, endpoint: "http://127.0.0.1:8790" }\n');
    await expect(loadCredentials(pointed)).resolves.toBeDefined();
    const env = write(dir, 'env.yaml', 'projects:\n  - { name: a, project: a, api_key_env: A_KEY }\n');
    expect(await refusal(env, { env: { A_KEY: 'test' } })).toEqual([
      expect.stringMatching(/env\.yaml:2: projects\[0\]\.api_key_env: .*the value of A_KEY is a placeholder/),
    ]);
    await expect(loadCredentials(env, { env: { A_KEY: 'AIzaSyD-abcdefghijklmnopqrstuvwxyz012345' } })).resolves.toBeDefined();
  });

  it('a missing credentials file is named with the job file and line that point at it', async () => {
    const dir = tempDir();
    const [message] = await refusal(join(dir, 'nowhere.yaml'), { namedBy: { file: join(dir, 'job.yaml'), line: 4 } });
    expect(message).toMatch(/job\.yaml:4: credentials: Credentials file .*nowhere\.yaml does not exist\./);
  });

  it('quotas out of range name the line, key and range', async () => {
    const file = write(
      tempDir(),
      'credentials.yaml',
      'projects:\n  - name: a\n    project: p\n    api_key: k\n    endpoint: "http://127.0.0.1:9"\n    quotas:\n      default: { requests: 5, window: 600h, concurrency: 1000000 }\n',
    );
    const all = (await refusal(file)).join('\n');
    expect(all).toMatch(/credentials\.yaml:7: projects\[0\]\.quotas\.default\.window: 600h is out of range: expected a duration from 10ms to 1d/);
    expect(all).toMatch(/credentials\.yaml:7: projects\[0\]\.quotas\.default\.concurrency: expected a whole number from 1 to 1,000/);
  });
});
