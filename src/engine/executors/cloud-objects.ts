import type { Credentials } from '../../credentials/credentials.js';
import { parseGcsUri } from './batch-staging.js';
import { StorageClients } from './storage-clients.js';

/**
 * Reads objects a model wrote to Cloud Storage (Veo with `storage_uri` returns only `gs://` URIs),
 * through the real @google-cloud/storage client with the credentials of the project that made the
 * call: the same client setup as batch staging (a project whose endpoint is not Google's, such as the
 * emulator, reads from the Cloud Storage JSON API on that endpoint).
 */
export class CloudObjects {
  private readonly clients = new StorageClients();

  constructor(private readonly credentials: () => Credentials) {}

  /** The object's bytes; refuses an empty or missing object (an output is never written without its bytes). */
  async read(projectName: string, uri: string): Promise<Buffer> {
    const project = this.credentials().projects.find((p) => p.name === projectName);
    if (!project) throw new Error(`project "${projectName}" is no longer in the credentials file`);
    if (project.api === 'gemini') throw new Error(`project "${projectName}" is a Gemini API key: it has no Cloud Storage credentials to read ${uri}`);
    const { bucket, path } = parseGcsUri(uri);
    const [data] = await (await this.clients.get(project)).bucket(bucket).file(path).download();
    if (data.length === 0) throw new Error(`${uri} is empty (0 bytes)`);
    return data;
  }
}
