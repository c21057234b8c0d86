import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * What is wrong with a service-account key file, in a sentence, or undefined when it can be used:
 * it reads, is JSON, has the service-account shape (`type: service_account`, `client_email`,
 * `private_key`) and its private key parses as an RSA key. Checked before any call (validate, run)
 * and again when a project's client is made, so a broken key disables the project instead of
 * failing its items one by one. Never quotes the file: it holds a secret.
 */
export function keyFileProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code ?? 'error'})`;
  }
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch {
    return 'is not valid JSON (a service-account key file is the JSON file Google Cloud downloads)';
  }
  if (key === null || typeof key !== 'object' || Array.isArray(key)) return 'is not a JSON object';
  const fields = key as Record<string, unknown>;
  if (fields.type !== 'service_account') {
    const type = typeof fields.type === 'string' && /^[a-z_]{1,40}$/.test(fields.type) ? `"${fields.type}"` : 'missing';
    return `is not a service-account key (its "type" is ${type}, not "service_account")`;
  }
  const missing = ['client_email', 'private_key'].filter((name) => typeof fields[name] !== 'string' || fields[name] === '');
  if (missing.length > 0) return `has no ${missing.map((m) => `"${m}"`).join(' or ')}`;
  try {
    const parsed = createPrivateKey(fields.private_key as string);
    if (parsed.asymmetricKeyType !== 'rsa') return `has a private key of type ${parsed.asymmetricKeyType ?? 'unknown'}, not RSA (service-account keys are RSA)`;
  } catch (error) {
    const reason = (error as { reason?: unknown }).reason;
    return `has a private key that does not parse${typeof reason === 'string' ? ` (${reason})` : ''}: it is damaged or was edited`;
  }
  return undefined;
}
