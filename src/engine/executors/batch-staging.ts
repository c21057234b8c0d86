import { createInterface } from 'node:readline';
import type { ProjectCredentials } from '../../credentials/credentials.js';
import { StorageClients } from './storage-clients.js';

/** gs://BUCKET/PREFIX, split. */
export function parseGcsUri(uri: string): { bucket: string; path: string } {
  const match = /^gs:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new Error(`not a gs:// URI: ${uri}`);
  return { bucket: match[1] ?? '', path: (match[2] ?? '').replace(/\/+$/, '') };
}

/**
 * Cloud Storage for batch input and output, through the real @google-cloud/storage client. A
 * project whose endpoint is not Google's (the emulator, `--emulator`) stages there too: the
 * emulator serves the Cloud Storage JSON API on the same port, and with a custom endpoint the
 * client sends no credentials.
 */
export class BatchStaging {
  private readonly clients = new StorageClients();

  /** Uploads a local JSONL file (resumable, the client's default) to `uri`. */
  async upload(project: ProjectCredentials, localFile: string, uri: string): Promise<void> {
    const { bucket, path } = parseGcsUri(uri);
    await (await this.clients.get(project)).bucket(bucket).upload(localFile, { destination: path, contentType: 'application/jsonl' });
  }

  /** Every line of every predictions*.jsonl under the output directory, streamed. */
  async *outputLines(project: ProjectCredentials, directory: string): AsyncGenerator<string> {
    const { bucket, path } = parseGcsUri(directory);
    const [files] = await (await this.clients.get(project)).bucket(bucket).getFiles({ prefix: `${path}/` });
    for (const file of files.filter((f) => /(^|\/)predictions[^/]*\.jsonl$/.test(f.name))) {
      const lines = createInterface({ input: file.createReadStream(), crlfDelay: Infinity });
      for await (const line of lines) if (line.trim() !== '') yield line;
    }
  }

  /** Deletes the objects under a prefix (a settled job's input and output); a missing one is fine. */
  async remove(project: ProjectCredentials, uri: string): Promise<void> {
    const { bucket, path } = parseGcsUri(uri);
    const [files] = await (await this.clients.get(project)).bucket(bucket).getFiles({ prefix: path });
    await Promise.all(files.filter((f) => f.name === path || f.name.startsWith(`${path}/`)).map((f) => f.delete({ ignoreNotFound: true })));
  }
}
