import type { ProjectCredentials } from '../../src/credentials/credentials.js';

/**
 * A Vertex project as load-credentials compiles it, with a declared rate: its quota is per project
 * (a 429 cools it down, and the limiter learns no pace from 429s), and 60 000 rpm spaces starts by
 * about 1 ms, so calls start at once.
 */
export function project(name: string, over: Partial<ProjectCredentials> = {}): ProjectCredentials {
  return {
    name,
    project: `gcp-${name}`,
    location: 'us-central1',
    auth: { kind: 'api_key', apiKey: `key-${name}`, source: 'file' },
    quotas: { default: { rpm: 60_000 } },
    pool: 'default',
    enabled: true,
    ...over,
  };
}
