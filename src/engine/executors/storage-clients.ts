import type { Storage, StorageOptions } from '@google-cloud/storage';
import type { ProjectCredentials } from '../../credentials/credentials.js';

/**
 * Whether the project's endpoint is not Google's (the emulator, a stand-in): Cloud Storage is then
 * served there too, and the client sends no credentials to it.
 */
export function customEndpoint(project: Pick<ProjectCredentials, 'endpoint'>): boolean {
  return project.endpoint !== undefined && !/\.googleapis\.com$/.test(new URL(project.endpoint).hostname);
}

/**
 * One @google-cloud/storage client per project, made on first use: batch staging and the reading of
 * objects a model wrote (Veo with `storage_uri`) share this setup. The client library (some 90 ms to
 * load) is loaded by the first step that needs it, not by every run.
 */
export class StorageClients {
  private readonly clients = new Map<string, Promise<Storage>>();

  get(project: ProjectCredentials): Promise<Storage> {
    let storage = this.clients.get(project.name);
    if (!storage) {
      storage = import('@google-cloud/storage').then(({ Storage }) => client(Storage, project));
      this.clients.set(project.name, storage);
    }
    return storage;
  }
}

function client(StorageClass: new (options: StorageOptions) => Storage, project: ProjectCredentials): Storage {
  const custom = customEndpoint(project);
  return new StorageClass({
    projectId: project.project,
    ...(custom ? { apiEndpoint: project.endpoint } : {}),
    ...(!custom && project.auth.kind === 'key_file' ? { keyFilename: project.auth.keyFile } : {}),
    retryOptions: { autoRetry: true, maxRetries: 3 },
  });
}
