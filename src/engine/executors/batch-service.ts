import type { BatchJob, GoogleGenAI } from '@google/genai';
import type { ProjectCredentials } from '../../credentials/credentials.js';
import { BatchStaging } from './batch-staging.js';

/**
 * What batch prediction asks of Google: Vertex AI's batch jobs (through the project's SDK client)
 * and Cloud Storage for their input and output files. The real one is below; the executor's unit
 * tests give a fake of this interface (the SDK itself is never mocked: e2e tests run it against the emulator).
 */
export interface BatchService {
  create(client: GoogleGenAI, job: { model: string; src: string; dest: string; displayName: string }): Promise<BatchJob>;
  get(client: GoogleGenAI, name: string): Promise<BatchJob>;
  /** The job of that display name, if one exists (a create whose reply was lost, a run that died during it). */
  findByDisplayName(client: GoogleGenAI, displayName: string): Promise<BatchJob | undefined>;
  cancel(client: GoogleGenAI, name: string): Promise<void>;
  /** Uploads a local JSONL file to `uri`. */
  upload(project: ProjectCredentials, localFile: string, uri: string): Promise<void>;
  /** Every line of every predictions*.jsonl under the output directory, streamed. */
  outputLines(project: ProjectCredentials, directory: string): AsyncIterable<string>;
  /** Deletes the objects under a prefix; a missing one is fine. */
  remove(project: ProjectCredentials, uri: string): Promise<void>;
}

/** Batch jobs through `@google/genai` (the project's client), files through `@google-cloud/storage`. */
export class VertexBatchService implements BatchService {
  private readonly staging = new BatchStaging();

  create(client: GoogleGenAI, job: { model: string; src: string; dest: string; displayName: string }): Promise<BatchJob> {
    return client.batches.create({ model: job.model, src: job.src, config: { dest: job.dest, displayName: job.displayName } });
  }

  get(client: GoogleGenAI, name: string): Promise<BatchJob> {
    return client.batches.get({ name });
  }

  async findByDisplayName(client: GoogleGenAI, displayName: string): Promise<BatchJob | undefined> {
    const pager = await client.batches.list({ config: { filter: `display_name="${displayName}"`, pageSize: 10 } });
    for await (const job of pager) if (job.displayName === displayName) return job;
    return undefined;
  }

  async cancel(client: GoogleGenAI, name: string): Promise<void> {
    await client.batches.cancel({ name });
  }

  upload(project: ProjectCredentials, localFile: string, uri: string): Promise<void> {
    return this.staging.upload(project, localFile, uri);
  }

  outputLines(project: ProjectCredentials, directory: string): AsyncIterable<string> {
    return this.staging.outputLines(project, directory);
  }

  remove(project: ProjectCredentials, uri: string): Promise<void> {
    return this.staging.remove(project, uri);
  }
}
