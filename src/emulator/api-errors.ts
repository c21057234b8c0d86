import type { EmulatedApi } from './emulated-api.js';
import type { QuotaVerdict } from './quota-tracker.js';
import { invalidArgument, notFound, VertexHttpError } from './vertex-error.js';

/**
 * The error answers that differ between Vertex AI and the Gemini API, each in the words the real
 * service uses. Both share the `{error:{code,message,status,details}}` body.
 */

/** Where a model call went: enough to word an error as the real API would. */
export interface CallTarget {
  api: EmulatedApi;
  /** The project named in the path (Vertex) or the key's project (Gemini API). */
  project: string;
  location: string;
  model: string;
  method: string;
  /** The API version in the path (`v1beta1`, `v1beta`…), which the Gemini API quotes back. */
  version: string;
}

export function unauthenticated(): VertexHttpError {
  return new VertexHttpError(
    401,
    'UNAUTHENTICATED',
    'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  );
}

/**
 * An unknown model, a model the project cannot use (`unavailable_models`), or (Gemini API) a
 * method the model does not serve: 404 NOT_FOUND.
 */
export function modelNotFound(target: CallTarget): VertexHttpError {
  if (target.api === 'gemini') {
    return notFound(
      `models/${target.model} is not found for API version ${target.version}, or is not supported for ${target.method}. Call ListModels to see the list of supported models and their supported methods.`,
    );
  }
  return notFound(
    `Publisher Model \`projects/${target.project}/locations/${target.location}/publishers/google/models/${target.model}\` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions`,
  );
}

/** A method the model's family does not answer. */
export function methodNotSupported(target: CallTarget, known: boolean): VertexHttpError {
  if (target.api === 'gemini') return modelNotFound(target);
  if (known) return invalidArgument(`Model ${target.model} does not support the ${target.method} method.`);
  return notFound(`Method ${target.method} was not found for model ${target.model}.`);
}

/** The service behind each Gemini API method, as its 403 names it. */
function geminiRpcName(method: string): string {
  const service = method === 'predict' || method === 'predictLongRunning' ? 'PredictionService' : 'GenerativeService';
  return `google.ai.generativelanguage.v1beta.${service}.${method.charAt(0).toUpperCase()}${method.slice(1)}`;
}

/** A project with `deny: true`: Vertex's IAM refusal, or a Gemini API key blocked for the API. */
export function permissionDenied(target: CallTarget): VertexHttpError {
  const { project, location, model } = target;
  if (target.api === 'gemini') {
    return new VertexHttpError(
      403,
      'PERMISSION_DENIED',
      `Requests to this API generativelanguage.googleapis.com method ${geminiRpcName(target.method)} are blocked.`,
      {
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_SERVICE_BLOCKED',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com', methodName: geminiRpcName(target.method) },
          },
        ],
      },
    );
  }
  return new VertexHttpError(
    403,
    'PERMISSION_DENIED',
    `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${project}/locations/${location}/publishers/google/models/${model}' (or it may not exist).`,
    { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'aiplatform.googleapis.com' }] },
  );
}

function secondsText(ms: number): string {
  return `${Math.round(ms) / 1000}s`;
}

type Refusal = Exclude<QuotaVerdict, { kind: 'ok' }>;

/**
 * The Gemini API's 429: QuotaFailure names the quota (its id says PerDay or PerMinute, which is
 * how clients tell a daily wall from a short wait) and RetryInfo says when to come back.
 */
function geminiQuotaError(verdict: Refusal, model: string, headers: Record<string, string> | undefined): VertexHttpError {
  const period = verdict.kind === 'per_day' ? 'PerDay' : verdict.windowMs === 60_000 ? 'PerMinute' : `Per${verdict.windowMs}Ms`;
  const metric = 'generativelanguage.googleapis.com/generate_content_requests';
  return new VertexHttpError(
    429,
    'RESOURCE_EXHAUSTED',
    `You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: ${metric}, limit: ${verdict.limit}, model: ${model}\nPlease retry in ${secondsText(verdict.retryAfterMs)}.`,
    {
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
          violations: [
            {
              quotaMetric: metric,
              quotaId: `GenerateRequests${period}PerProjectPerModel`,
              quotaDimensions: { location: 'global', model },
              quotaValue: String(verdict.limit),
            },
          ],
        },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: secondsText(verdict.retryAfterMs) },
      ],
      ...(headers ? { headers } : {}),
    },
  );
}

function isGenerateContentModel(model: string): boolean {
  return /^gemini-/.test(model) && !/embedding/.test(model);
}

/**
 * The per-minute quota metric Vertex names in its 429: `generate_content_requests_per_minute_per_project_per_base_model`
 * for Gemini models, `online_prediction_requests_per_base_model` (a per-minute quota too) for Imagen,
 * Veo and embeddings. A time-scaled window (the emulator's `window: 1s`) is named where Google names
 * the minute (`…_per_1000ms_…`), as the Gemini API's quota id does (`Per1000Ms`), so that a client
 * reads the window the same way it reads Google's.
 */
function vertexQuotaMetric(model: string, windowMs: number): string {
  const minute = windowMs === 60_000;
  if (isGenerateContentModel(model)) return `generate_content_requests_per_${minute ? 'minute' : `${windowMs}ms`}_per_project_per_base_model`;
  return minute ? 'online_prediction_requests_per_base_model' : `online_prediction_requests_per_${windowMs}ms_per_base_model`;
}

/** 429 RESOURCE_EXHAUSTED for a refused quota, per API; `Retry-After` unless the config turns it off. */
export function quotaError(api: EmulatedApi, verdict: Refusal, model: string, retryAfterHeader: boolean): VertexHttpError {
  const headers = retryAfterHeader ? { 'retry-after': String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))) } : undefined;
  if (api === 'gemini') return geminiQuotaError(verdict, model, headers);
  if (verdict.kind === 'per_day') {
    return new VertexHttpError(
      429,
      'RESOURCE_EXHAUSTED',
      `Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_day_per_project with base model: ${model} (${verdict.limit} requests per day for ${verdict.scope}). The quota resets at midnight; please submit a quota increase request.`,
      {
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
            violations: [{ subject: verdict.scope, description: `generate_content_requests_per_day_per_project: limit ${verdict.limit} per day` }],
          },
        ],
        ...(headers ? { headers } : {}),
      },
    );
  }
  return new VertexHttpError(
    429,
    'RESOURCE_EXHAUSTED',
    `Quota exceeded for aiplatform.googleapis.com/${vertexQuotaMetric(model, verdict.windowMs)} with base model: ${model}. Please submit a quota increase request.${isGenerateContentModel(model) ? ' https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.' : ''}`,
    {
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: secondsText(verdict.retryAfterMs) }],
      ...(headers ? { headers } : {}),
    },
  );
}

/**
 * Vertex's 429 under dynamic shared quota: the region's capacity for the model is short, whatever
 * the project. Bare, as Google sends it: no details (no RetryInfo, no QuotaFailure), no Retry-After.
 */
export function sharedCapacityExhausted(): VertexHttpError {
  return new VertexHttpError(
    429,
    'RESOURCE_EXHAUSTED',
    'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.',
  );
}
