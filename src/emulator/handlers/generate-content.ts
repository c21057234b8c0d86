import { randomBytes } from 'node:crypto';
import type { EmulatedApi } from '../emulated-api.js';
import type { ModelBehaviour } from '../emulator-config.js';
import type { ThinkingSpec, TokenDistribution } from '../model-family.js';
import { defaultOutputTokens, GEMINI_MAX_OUTPUT_TOKENS, geminiInputTokenLimit, modelFamily, thinkingSpec, TOKENS_PER_GEMINI_IMAGE } from '../model-family.js';
import { applyFinishReason, drawFinishReason } from '../fake-finish-reason.js';
import { breakJson, fakeJson } from '../fake-json.js';
import { fakeProse } from '../fake-text.js';
import { brokenImageData, GEMINI_IMAGE_SIZES, renderImage } from '../fake-image.js';
import { samplePart } from '../prompt-occurrences.js';
import { seededRandom, type Rng } from '../seeded-random.js';
import { countTextTokens, truncateToTokens } from '../token-count.js';
import { cacheNotFound } from '../caching/cached-contents.js';
import { invalidArgument } from '../vertex-error.js';
import { promptKey, promptTokens, readGeminiPrompt, type GeminiPrompt } from './gemini-prompt.js';
import type { HandlerContext, HandlerOutcome, ModelCall } from './model-call.js';
import { asObject, checkLabels, isBlocked, optionalNumber, optionalString } from './request-fields.js';

/** :generateContent for Gemini text, JSON and image models. */
export async function generateContent(call: ModelCall, ctx: HandlerContext): Promise<HandlerOutcome> {
  const { body, explicitTokens } = withCachedContent(call, ctx);
  const prompt = readGeminiPrompt(body, { requireContents: true });
  checkLabels(call.body.labels);
  const config = prompt.generationConfig;
  const modalities = Array.isArray(config.responseModalities) ? config.responseModalities.map((m) => String(m).toUpperCase()) : [];
  const wantsImage = modalities.includes('IMAGE');
  if (wantsImage && modelFamily(call.model) !== 'gemini-image') {
    throw invalidArgument(`Multi-modal output is not supported by model ${call.model}; use an image model such as gemini-2.5-flash-image.`);
  }
  const inputTokens = promptTokens(prompt);
  // As Vertex: a prompt above the context window is refused (and not billed), with this very message.
  const limit = geminiInputTokenLimit(call.model);
  if (inputTokens > limit) throw invalidArgument(`The input token count (${inputTokens}) exceeds the maximum number of tokens allowed (${limit}).`);
  const blocked = isBlocked(`${prompt.system}\n${prompt.text}`, ctx.config.blocked_terms);
  const outcome = wantsImage ? await imageReply(call, ctx, prompt, inputTokens, blocked) : textReply(call, ctx, prompt, inputTokens, blocked);
  // Only an answered request is cached (or uses a cache); the reply itself is the same either way.
  const cachedTokens = explicitTokens ?? ctx.implicitCache?.serve(call, body, ctx.now()) ?? 0;
  return withCachedTokens(outcome, cachedTokens);
}

/**
 * A request naming a cache (`cachedContent`) is answered as the same request with the cache's
 * system instruction and contents in front of its own, so its reply is the reply to that request;
 * as on Vertex, it may not set its own system instruction, tools or tool config, must use the
 * cache's model, and sees only caches of its own project and location.
 */
function withCachedContent(call: ModelCall, ctx: HandlerContext): { body: Record<string, unknown>; explicitTokens?: number } {
  const name = call.body.cachedContent;
  if (name === undefined) return { body: call.body };
  if (typeof name !== 'string' || name === '') throw invalidArgument(`Invalid value at 'cached_content' (TYPE_STRING), ${JSON.stringify(name)}`);
  if (call.body.systemInstruction !== undefined || call.body.tools !== undefined || call.body.toolConfig !== undefined) {
    throw invalidArgument(
      'CachedContent can not be used with GenerateContent request setting system_instruction, tools or tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request.',
    );
  }
  const cache = ctx.caches?.require(name, ctx.now());
  if (!cache || cache.project !== call.project || cache.location !== call.location) throw cacheNotFound(name);
  if (cache.model !== call.model) {
    throw invalidArgument(`Model used by GenerateContent request (${call.model}) and CachedContent (${cache.model}) has to be the same.`);
  }
  const own = Array.isArray(call.body.contents) ? (call.body.contents as unknown[]) : [];
  const { cachedContent: _named, ...rest } = call.body;
  return {
    body: { ...rest, ...(cache.systemInstruction ? { systemInstruction: cache.systemInstruction } : {}), contents: [...cache.contents, ...own] },
    explicitTokens: cache.tokenCount,
  };
}

/** Marks the cached part of the prompt, as Vertex reports it: part of promptTokenCount, named apart. */
function withCachedTokens(outcome: HandlerOutcome, cachedTokens: number): HandlerOutcome {
  if (cachedTokens <= 0) return outcome;
  const usage = (outcome.body as { usageMetadata?: Record<string, unknown> }).usageMetadata;
  if (usage) {
    usage.cachedContentTokenCount = cachedTokens;
    usage.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: cachedTokens }];
  }
  return { ...outcome, usage: { ...outcome.usage, cached_input_tokens: cachedTokens } };
}

function envelope(call: ModelCall, ctx: HandlerContext, body: Record<string, unknown>): Record<string, unknown> {
  // Vertex says how it served the call; the Gemini API does not.
  const usage = body.usageMetadata as Record<string, unknown> | undefined;
  if (usage && call.api === 'vertex') usage.trafficType = ctx.config.projects[call.project]?.provisioned_throughput ? 'PROVISIONED_THROUGHPUT' : 'ON_DEMAND';
  return {
    ...body,
    modelVersion: call.model,
    createTime: new Date(ctx.now()).toISOString(),
    // Unique per answer, as on Vertex; the content itself is what is deterministic.
    responseId: randomBytes(12).toString('base64url'),
  };
}

function draw(distribution: TokenDistribution, rng: Rng): number {
  return Math.max(1, Math.round(rng.normal(distribution.mean, distribution.sd)));
}

/** A model answers a real prompt with a few words at least; configured means below this are kept. */
const MIN_REPLY_TOKENS = 8;

/**
 * A reply length from the model's distribution, cut below at MIN_REPLY_TOKENS (or the configured
 * mean, if smaller) by drawing again: the normal's far-left tail is not a reply length.
 */
function drawReplyLength(distribution: TokenDistribution, rng: Rng): number {
  const floor = Math.max(1, Math.min(MIN_REPLY_TOKENS, Math.round(distribution.mean)));
  for (let attempt = 0; attempt < 20; attempt++) {
    const tokens = Math.round(rng.normal(distribution.mean, distribution.sd));
    if (tokens >= floor) return tokens;
  }
  return floor;
}

/** The request's own `seed` (Vertex samples the same reply again for the same seed and prompt). */
function requestSeed(config: Record<string, unknown>): number | undefined {
  return optionalNumber(config.seed, 'generation_config.seed');
}

/**
 * The request's thinking budget, refused as Vertex refuses it (400 INVALID_ARGUMENT) when the model
 * does not take it: outside the model's range, below -1, or 0 on a model that always thinks.
 */
function readThinkingBudget(api: EmulatedApi, config: Record<string, unknown>, spec: ThinkingSpec | undefined): number | undefined {
  const budget = optionalNumber(asObject(config.thinkingConfig)?.thinkingBudget, 'generation_config.thinking_config.thinking_budget');
  if (budget === undefined || !spec) return budget;
  if (budget === 0 && !spec.canTurnOff) {
    throw invalidArgument(
      api === 'gemini' ? 'Budget 0 is invalid. This model only works in thinking mode.' : 'The model does not support setting thinking_budget to 0.',
    );
  }
  const inRange = budget === -1 || (budget === 0 && spec.canTurnOff) || (Number.isInteger(budget) && budget >= spec.min && budget <= spec.max);
  if (!inRange) {
    throw invalidArgument(
      api === 'gemini'
        ? `The thinking budget (${budget}) is invalid.`
        : `thinking_budget is out of range; supported values are integers from ${spec.min} to ${spec.max}. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini`,
    );
  }
  return budget;
}

/**
 * Thinking tokens the model wants to spend before the reply, as Vertex: none when the budget is 0
 * (or, on a model that thinks only when asked, when none is set); up to the budget when one is set;
 * what the model decides (dynamic thinking) when none is set or it is -1. A model the emulator knows
 * no thinking rules for thinks only when the config gives it `thoughts_tokens`.
 */
function wantedThinking(spec: ThinkingSpec | undefined, budget: number | undefined, behaviour: ModelBehaviour | undefined, rng: Rng): number {
  if (budget === 0) return 0;
  const wants = behaviour?.thoughts_tokens ?? (spec && (spec.onByDefault || budget !== undefined) ? spec.wants : undefined);
  if (!wants) return 0;
  const drawn = draw(wants, rng);
  if (budget !== undefined && budget > 0) return Math.min(drawn, budget);
  return spec ? Math.min(drawn, spec.max) : drawn;
}

function textReply(call: ModelCall, ctx: HandlerContext, prompt: GeminiPrompt, inputTokens: number, blocked: boolean): HandlerOutcome {
  const config = prompt.generationConfig;
  const spec = thinkingSpec(call.model);
  const thinkingBudget = readThinkingBudget(call.api, config, spec);
  const maxOutputTokens = optionalNumber(config.maxOutputTokens, 'generation_config.max_output_tokens');
  if (maxOutputTokens !== undefined && maxOutputTokens < 1) throw invalidArgument('max_output_tokens must be a positive number.');
  if (blocked) {
    return {
      body: envelope(call, ctx, {
        promptFeedback: { blockReason: 'SAFETY', blockReasonMessage: 'The prompt was blocked by the safety filters (emulator blocked_terms).' },
        usageMetadata: { promptTokenCount: inputTokens, totalTokenCount: inputTokens },
      }),
      usage: { input_tokens: inputTokens },
    };
  }
  const behaviour = ctx.config.models[call.model];
  const mimeType = optionalString(config.responseMimeType, 'generation_config.response_mime_type') ?? 'text/plain';
  const seed = requestSeed(config);

  const key = promptKey(prompt);
  // The n-th ask of this prompt is its own sample: a retry gets another reply, reproducibly.
  const asked = ctx.occurrences.next(call.model, 'generateContent', key);
  const sample = samplePart(asked, seed);
  const lengthRng = seededRandom(ctx.config.seed, call.model, 'length', key, ...sample);
  const drawn = drawReplyLength(behaviour?.output_tokens ?? defaultOutputTokens(call.model), lengthRng);
  const contentRng = seededRandom(ctx.config.seed, call.model, 'content', key, ...sample);
  // Empty with STOP only when the config asks for it, drawn per ask (never per seed), so a retry can succeed.
  const emptyRate = behaviour?.empty_rate ?? ctx.config.empty_rate;
  const empty = emptyRate > 0 && seededRandom(ctx.config.seed, call.model, 'empty', key, asked).chance(emptyRate);

  // As on Vertex, thinking comes first and counts against maxOutputTokens: the visible reply gets
  // what is left, and nothing at all when thinking used it up.
  const limit = maxOutputTokens ?? GEMINI_MAX_OUTPUT_TOKENS;
  const thoughtsTokens = Math.min(wantedThinking(spec, thinkingBudget, behaviour, lengthRng), limit);
  const room = limit - thoughtsTokens;

  const withoutParts = (finishReason: string): HandlerOutcome => ({
    // As Vertex sends it: a model turn without parts, and no candidate tokens (a zero count is left out).
    body: envelope(call, ctx, {
      candidates: [{ content: { role: 'model' }, finishReason }],
      usageMetadata: {
        promptTokenCount: inputTokens,
        ...(thoughtsTokens > 0 ? { thoughtsTokenCount: thoughtsTokens } : {}),
        totalTokenCount: inputTokens + thoughtsTokens,
        trafficType: 'ON_DEMAND',
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: inputTokens }],
      },
    }),
    usage: { input_tokens: inputTokens, output_tokens: thoughtsTokens, ...(finishReason === 'MAX_TOKENS' ? { max_tokens: 1 } : {}) },
  });
  if (empty) return withoutParts('STOP');
  if (room === 0) return withoutParts('MAX_TOKENS');

  // A model asked for JSON under a token budget usually closes the object in time: aim inside what
  // thinking left, so only budgets too small for the object itself end in MAX_TOKENS (as on Vertex).
  const target = mimeType === 'application/json' && maxOutputTokens !== undefined ? Math.max(1, Math.min(drawn, Math.floor(room * 0.9))) : drawn;
  let text: string;
  if (mimeType === 'application/json') {
    const value = fakeJson(prompt.schema, contentRng, target, prompt.text);
    // Valid for the schema unless bad_json_rate asks otherwise (drawn per ask, like empty replies).
    const badRate = behaviour?.bad_json_rate ?? ctx.config.bad_json_rate;
    const bad = badRate > 0 && seededRandom(ctx.config.seed, call.model, 'bad-json', key, asked).chance(badRate);
    text = bad ? breakJson(value, prompt.schema, contentRng) : JSON.stringify(value);
  } else {
    text = fakeProse(contentRng, target, prompt.text);
  }

  let finishReason = 'STOP';
  if (countTextTokens(text) > room) {
    text = truncateToTokens(text, room);
    finishReason = 'MAX_TOKENS';
    if (text === '') return withoutParts('MAX_TOKENS');
  }
  // The config's finish_reasons, drawn per ask (fake-finish-reason.ts).
  const forced = drawFinishReason(behaviour?.finish_reasons ?? ctx.config.finish_reasons, ctx.config.seed, call.model, key, asked);
  if (forced !== undefined) ({ text, finishReason } = applyFinishReason(forced, text));
  const outputTokens = countTextTokens(text);

  return {
    body: envelope(call, ctx, {
      candidates: [{ content: { role: 'model', ...(text === '' ? {} : { parts: [{ text }] }) }, finishReason }],
      usageMetadata: {
        promptTokenCount: inputTokens,
        // Vertex leaves zero counts out (a forced reason may keep no text).
        ...(outputTokens > 0 ? { candidatesTokenCount: outputTokens } : {}),
        ...(thoughtsTokens > 0 ? { thoughtsTokenCount: thoughtsTokens } : {}),
        totalTokenCount: inputTokens + outputTokens + thoughtsTokens,
        trafficType: 'ON_DEMAND',
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: inputTokens }],
        candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: outputTokens }],
      },
    }),
    usage: { input_tokens: inputTokens, output_tokens: outputTokens + thoughtsTokens, ...(finishReason === 'MAX_TOKENS' ? { max_tokens: 1 } : {}) },
  };
}

async function imageReply(call: ModelCall, ctx: HandlerContext, prompt: GeminiPrompt, inputTokens: number, blocked: boolean): Promise<HandlerOutcome> {
  const imageConfig = asObject(prompt.generationConfig.imageConfig) ?? {};
  const aspectRatio = optionalString(imageConfig.aspectRatio, 'generation_config.image_config.aspect_ratio') ?? '1:1';
  const size = GEMINI_IMAGE_SIZES[aspectRatio];
  if (!size) {
    throw invalidArgument(`Unsupported aspect ratio "${aspectRatio}". Supported: ${Object.keys(GEMINI_IMAGE_SIZES).join(', ')}.`);
  }
  if (blocked) {
    return {
      body: envelope(call, ctx, {
        candidates: [
          { finishReason: 'IMAGE_SAFETY', finishMessage: 'Unable to show the generated image: it may violate the usage guidelines (emulator blocked_terms).' },
        ],
        usageMetadata: { promptTokenCount: inputTokens, candidatesTokenCount: 0, totalTokenCount: inputTokens },
      }),
      usage: { input_tokens: inputTokens },
    };
  }
  const seed = requestSeed(prompt.generationConfig);
  const key = promptKey(prompt);
  const asked = ctx.occurrences.next(call.model, 'generateContent', key);
  const sample = samplePart(asked, seed);
  const png = await renderImage(seededRandom(ctx.config.seed, call.model, 'image', key, ...sample), size[0], size[1]);
  // Broken base64 only when the config asks for it, drawn per ask, so a retry can succeed.
  const badRate = ctx.config.models[call.model]?.bad_image_rate ?? ctx.config.bad_image_rate;
  const broken = badRate > 0 && seededRandom(ctx.config.seed, call.model, 'bad-image', key, asked).chance(badRate);
  const outputTokens = TOKENS_PER_GEMINI_IMAGE;
  return {
    body: envelope(call, ctx, {
      candidates: [
        {
          content: { role: 'model', parts: [{ inlineData: { mimeType: 'image/png', data: broken ? brokenImageData(png) : png.toString('base64') } }] },
          finishReason: 'STOP',
        },
      ],
      usageMetadata: {
        promptTokenCount: inputTokens,
        candidatesTokenCount: outputTokens,
        totalTokenCount: inputTokens + outputTokens,
        trafficType: 'ON_DEMAND',
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: inputTokens }],
        candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: outputTokens }],
      },
    }),
    usage: { input_tokens: inputTokens, output_tokens: outputTokens, images: 1 },
  };
}
