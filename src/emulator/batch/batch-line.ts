import { STATUS_CODES } from 'node:http';
import { generateContent } from '../handlers/generate-content.js';
import type { HandlerContext } from '../handlers/model-call.js';
import { asObject, type Json } from '../handlers/request-fields.js';
import { seededRandom } from '../seeded-random.js';
import { invalidArgument, VertexHttpError } from '../vertex-error.js';

/**
 * One line of a batch input, answered by the same generator as an online :generateContent call
 * (quotas and 503s aside). As Google documents it, an output line holds `status`, `processed_time`,
 * the `request` and either `response` or, for a failed line, a non-empty `status` (Vertex writes
 * `"status": ""` on lines that succeeded). The request comes back as Vertex re-serialises it (proto
 * JSON: camelCase field names, fields in another order, unset parts of a `oneof` as null), not as
 * written; the input line's other top-level fields (a custom `key`) come back only with `echo_key`.
 */
export interface LineOutcome {
  /** The output line, JSON without the newline. */
  line: string;
  ok: boolean;
  inputTokens: number;
  /** The part of inputTokens served from a context cache (cachedContentTokenCount). */
  cachedTokens: number;
  outputTokens: number;
}

export interface LineTarget {
  project: string;
  location: string;
  model: string;
}

/** Field names inside these are the person's own (schema properties, label keys): kept as written. */
const VERBATIM = new Set(['responseSchema', 'responseJsonSchema', 'parametersJsonSchema', 'labels']);

const camel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Vertex reads proto JSON, where `generation_config` and `generationConfig` are the same field. */
function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys);
  const object = asObject(value);
  if (!object) return value;
  return Object.fromEntries(
    Object.entries(object).map(([k, v]) => {
      const key = camel(k);
      return [key, VERBATIM.has(key) ? v : camelKeys(v)];
    }),
  );
}

/** A value with the keys of every object in alphabetical order (a map under VERBATIM keeps its own). */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  const object = asObject(value);
  if (!object) return value;
  return Object.fromEntries(
    Object.keys(object)
      .sort()
      .map((key) => [key, VERBATIM.has(key) ? object[key] : sortedKeys(object[key])]),
  );
}

/** A text part as proto JSON prints it with its unset `oneof` sibling: `{"fileData": null, "text": …}`. */
function withNullFileData(content: unknown): unknown {
  const object = asObject(content);
  if (!object || !Array.isArray(object.parts)) return content;
  const parts = object.parts.map((part: unknown) => {
    const p = asObject(part);
    return p && typeof p.text === 'string' && p.fileData === undefined ? { fileData: null, ...p } : part;
  });
  return { ...object, parts };
}

/** The request as Vertex echoes it in an output line: re-serialised, never byte for byte as sent. */
export function echoedRequest(request: Json): Json {
  const camel = camelKeys(request) as Json;
  const echoed: Json = { ...camel };
  if (Array.isArray(camel.contents)) echoed.contents = camel.contents.map(withNullFileData);
  if (camel.systemInstruction !== undefined) echoed.systemInstruction = withNullFileData(camel.systemInstruction);
  return sortedKeys(echoed) as Json;
}

/** A per-line error as Vertex writes it: the HTTP reason, then the error body. */
export function lineStatus(error: VertexHttpError): string {
  return `${STATUS_CODES[error.httpStatus] ?? 'Error'}: ${JSON.stringify(error.body())}`;
}

export interface LineOptions {
  /** Share of lines answered with a per-line `status` error instead of a response. */
  lineFailRate: number;
  /** Keep the input line's other top-level fields (a `key`) in the output line. */
  echoKey: boolean;
}

/** The fields of the input line an output line carries: the echoed request, and the rest with echo_key. */
function carried(input: Json, request: unknown, echoKey: boolean): Json {
  const echoed = asObject(request) ? echoedRequest(request as Json) : request;
  return echoKey ? { ...input, request: echoed } : { request: echoed };
}

function failed(fields: Json, error: VertexHttpError, processedTime: string): LineOutcome {
  return {
    line: JSON.stringify({ status: lineStatus(error), processed_time: processedTime, ...fields }),
    ok: false,
    inputTokens: 0,
    cachedTokens: 0,
    outputTokens: 0,
  };
}

export async function answerLine(raw: string, target: LineTarget, ctx: HandlerContext, options: LineOptions): Promise<LineOutcome> {
  const { lineFailRate, echoKey } = options;
  const processedTime = new Date(ctx.now()).toISOString();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    return failed({ request: raw }, invalidArgument(`Invalid JSON payload received. ${(error as Error).message}`), processedTime);
  }
  const input = asObject(parsed);
  if (!input) return failed({ request: parsed }, invalidArgument('Each line must be a JSON object with a "request" field.'), processedTime);
  const request = asObject(input.request);
  if (!request)
    return failed(
      carried(input, input.request, echoKey),
      invalidArgument('Each line must have a "request" object: a generateContent request ({"contents": [...]}).'),
      processedTime,
    );
  const fields = carried(input, request, echoKey);

  // Drawn per ask of the same request, like empty_rate: a resubmitted line can succeed.
  const requestKey = JSON.stringify(request);
  const asked = ctx.occurrences.next(target.model, 'batch-line-fail', requestKey);
  if (lineFailRate > 0 && seededRandom(ctx.config.seed, target.model, 'batch-line-fail', requestKey, asked).chance(lineFailRate)) {
    return failed(fields, new VertexHttpError(500, 'INTERNAL', 'Internal error encountered.'), processedTime);
  }
  try {
    const outcome = await generateContent({ ...target, api: 'vertex', method: 'generateContent', body: camelKeys(request) as Json }, ctx);
    return {
      line: JSON.stringify({ status: '', processed_time: processedTime, ...fields, response: outcome.body }),
      ok: true,
      inputTokens: outcome.usage.input_tokens ?? 0,
      cachedTokens: outcome.usage.cached_input_tokens ?? 0,
      outputTokens: outcome.usage.output_tokens ?? 0,
    };
  } catch (error) {
    const vertexError =
      error instanceof VertexHttpError ? error : new VertexHttpError(500, 'INTERNAL', `Internal error encountered: ${(error as Error).message}`);
    return failed(fields, vertexError, processedTime);
  }
}
