import { VERTEX_MODELS } from '../served-models.js';
import { modelNotFound } from '../api-errors.js';
import type { EmulatorConfig } from '../emulator-config.js';
import { asObject, checkLabels, type Json } from '../handlers/request-fields.js';
import { modelFamily } from '../model-family.js';
import type { ObjectStore } from '../storage/object-store.js';
import { parseGcsUri, type GcsLocation } from '../storage/gcs-uri.js';
import { invalidArgument } from '../vertex-error.js';
import type { BatchInput } from './batch-job.js';
import { countRequestLines } from './jsonl-lines.js';

/**
 * Checks a create request as Vertex does before accepting a job: the model (Gemini text, JSON and
 * image models only), a JSONL input in Cloud Storage that exists, at most `max_requests` requests
 * and `max_input_bytes` per file, and a gs:// output prefix. Every refusal is a 400 (404 for an
 * unknown model), so nothing is queued that could not run.
 */
export interface CreateRequest {
  displayName: string;
  model: string;
  inputs: BatchInput[];
  outputUriPrefix: string;
  output: GcsLocation;
  labels: Record<string, string> | undefined;
  requestCount: number;
}

const MODEL_NAME = /^(?:projects\/[^/]+\/locations\/[^/]+\/)?publishers\/google\/models\/([^/@:]+)(?:@[^/]+)?$/;

function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${bytes} bytes`;
}

function readModel(value: unknown, project: string, location: string, config: EmulatorConfig): string {
  if (typeof value !== 'string' || value === '')
    throw invalidArgument('BatchPredictionJob.model is required, e.g. "publishers/google/models/gemini-2.5-flash".');
  const id = MODEL_NAME.exec(value)?.[1];
  if (!id) throw invalidArgument(`Invalid model name "${value}": expected "publishers/google/models/MODEL".`);
  const family = modelFamily(id);
  // An unknown model, or one the project cannot use (`unavailable_models`), as for online calls.
  if (!family || !VERTEX_MODELS.has(id) || config.projects[project]?.unavailable_models.includes(id)) {
    throw modelNotFound({ api: 'vertex', project, location, model: id, method: 'batchPredictionJobs.create', version: 'v1' });
  }
  if (family === 'imagen' || family === 'veo') {
    throw invalidArgument(
      `Model ${id} does not support batch prediction. Batch prediction serves Gemini text, JSON and image models (such as gemini-2.5-flash-image).`,
    );
  }
  if (family === 'embedding') {
    throw invalidArgument(
      `Model ${id}: the emulator serves Gemini batch prediction only; embedding models use their own batch input format and are not emulated.`,
    );
  }
  return id;
}

async function readInputs(config: Json, store: ObjectStore, limits: EmulatorConfig['batch']): Promise<{ inputs: BatchInput[]; requestCount: number }> {
  const format = config.instancesFormat;
  if (format !== 'jsonl') {
    throw invalidArgument(
      `inputConfig.instancesFormat ${JSON.stringify(format ?? null)} is not served: the emulator reads batch input from Cloud Storage JSONL only ("jsonl" with gcsSource.uris; BigQuery sources are not emulated).`,
    );
  }
  const uris = asObject(config.gcsSource)?.uris;
  if (!Array.isArray(uris) || uris.length === 0 || !uris.every((u) => typeof u === 'string')) {
    throw invalidArgument('inputConfig.gcsSource.uris must list at least one gs:// URI of a JSONL file.');
  }
  const inputs: BatchInput[] = [];
  let requestCount = 0;
  for (const uri of uris as string[]) {
    const location = parseGcsUri(uri);
    if (!location || location.name === '') throw invalidArgument(`Invalid input URI "${uri}": expected gs://BUCKET/OBJECT.jsonl.`);
    const object = store.get(location.bucket, location.name);
    if (!object) throw invalidArgument(`Input file ${uri} does not exist (no such object in Cloud Storage).`);
    if (object.blob.size > limits.max_input_bytes) {
      throw invalidArgument(
        `Input file ${uri} is ${formatBytes(object.blob.size)}; batch prediction reads at most ${formatBytes(limits.max_input_bytes)} per input file. Split it into several jobs.`,
      );
    }
    inputs.push({ uri, blob: object.blob });
    requestCount += await countRequestLines(object.blob);
  }
  if (requestCount === 0) throw invalidArgument(`The batch input (${(uris as string[]).join(', ')}) has no requests: expected one JSON line per request.`);
  if (requestCount > limits.max_requests) {
    throw invalidArgument(
      `The batch input has ${requestCount} requests; a batch prediction job takes at most ${limits.max_requests}. Split it into several jobs.`,
    );
  }
  return { inputs, requestCount };
}

function readOutput(config: Json): { outputUriPrefix: string; location: GcsLocation } {
  const format = config.predictionsFormat;
  if (format !== 'jsonl') {
    throw invalidArgument(`outputConfig.predictionsFormat ${JSON.stringify(format ?? null)} is not served: the emulator writes JSONL to Cloud Storage only.`);
  }
  const prefix = asObject(config.gcsDestination)?.outputUriPrefix;
  const location = typeof prefix === 'string' ? parseGcsUri(prefix) : undefined;
  if (!location) throw invalidArgument(`outputConfig.gcsDestination.outputUriPrefix must be a gs://BUCKET/PREFIX URI, got ${JSON.stringify(prefix ?? null)}.`);
  return { outputUriPrefix: prefix as string, location };
}

export async function readCreateRequest(
  body: Json,
  target: { project: string; location: string },
  store: ObjectStore,
  config: EmulatorConfig,
): Promise<CreateRequest> {
  const displayName = body.displayName;
  if (typeof displayName !== 'string' || displayName.trim() === '') throw invalidArgument('BatchPredictionJob.displayName is required.');
  const model = readModel(body.model, target.project, target.location, config);
  checkLabels(body.labels);
  const inputConfig = asObject(body.inputConfig);
  if (!inputConfig) throw invalidArgument('BatchPredictionJob.inputConfig is required.');
  const outputConfig = asObject(body.outputConfig);
  if (!outputConfig) throw invalidArgument('BatchPredictionJob.outputConfig is required.');
  const output = readOutput(outputConfig);
  const { inputs, requestCount } = await readInputs(inputConfig, store, config.batch);
  return {
    displayName,
    model,
    inputs,
    outputUriPrefix: output.outputUriPrefix,
    output: output.location,
    labels: body.labels === undefined ? undefined : (body.labels as Record<string, string>),
    requestCount,
  };
}
