import { randomBytes } from 'node:crypto';
import type { TokenDistribution } from '../model-family.js';
import { defaultOutputTokens, modelFamily, TOKENS_PER_GEMINI_IMAGE } from '../model-family.js';
import { fakeJson } from '../fake-json.js';
import { fakeProse } from '../fake-text.js';
import { GEMINI_IMAGE_SIZES, renderImage } from '../fake-image.js';
import { seededRandom } from '../seeded-random.js';
import { countTextTokens, truncateToTokens } from '../token-count.js';
import { invalidArgument } from '../vertex-error.js';
import { promptKey, promptTokens, readGeminiPrompt, type GeminiPrompt } from './gemini-prompt.js';
import type { HandlerContext, HandlerOutcome, ModelCall } from './model-call.js';
import { asObject, checkLabels, isBlocked, optionalNumber, optionalString } from './request-fields.js';

/** :generateContent for Gemini text, JSON and image models. */
export async function generateContent(call: ModelCall, ctx: HandlerContext): Promise<HandlerOutcome> {
  const prompt = readGeminiPrompt(call.body, { requireContents: true });
  checkLabels(call.body.labels);
  const config = prompt.generationConfig;
  const modalities = Array.isArray(config.responseModalities) ? config.responseModalities.map((m) => String(m).toUpperCase()) : [];
  const wantsImage = modalities.includes('IMAGE');
  if (wantsImage && modelFamily(call.model) !== 'gemini-image') {
    throw invalidArgument(`Multi-modal output is not supported by model ${call.model}; use an image model such as gemini-2.5-flash-image.`);
  }
  const inputTokens = promptTokens(prompt);
  const blocked = isBlocked(`${prompt.system}\n${prompt.text}`, ctx.config.blocked_terms);
  return wantsImage ? imageReply(call, ctx, prompt, inputTokens, blocked) : textReply(call, ctx, prompt, inputTokens, blocked);
}

function envelope(call: ModelCall, ctx: HandlerContext, body: Record<string, unknown>): Record<string, unknown> {
  return {
    ...body,
    modelVersion: call.model,
    createTime: new Date(ctx.now()).toISOString(),
    // Unique per answer, as on Vertex; the content itself is what is deterministic.
    responseId: randomBytes(12).toString('base64url'),
  };
}

function draw(distribution: TokenDistribution, rng: ReturnType<typeof seededRandom>): number {
  return Math.max(1, Math.round(rng.normal(distribution.mean, distribution.sd)));
}

function textReply(call: ModelCall, ctx: HandlerContext, prompt: GeminiPrompt, inputTokens: number, blocked: boolean): HandlerOutcome {
  if (blocked) {
    return {
      body: envelope(call, ctx, {
        promptFeedback: { blockReason: 'SAFETY', blockReasonMessage: 'The prompt was blocked by the safety filters (emulator blocked_terms).' },
        usageMetadata: { promptTokenCount: inputTokens, totalTokenCount: inputTokens },
      }),
      usage: { input_tokens: inputTokens },
    };
  }
  const config = prompt.generationConfig;
  const behaviour = ctx.config.models[call.model];
  const key = promptKey(prompt);
  const lengthRng = seededRandom(ctx.config.seed, call.model, 'length', key);
  const drawn = draw(behaviour?.output_tokens ?? defaultOutputTokens(call.model), lengthRng);
  const contentRng = seededRandom(ctx.config.seed, call.model, 'content', key);
  const mimeType = optionalString(config.responseMimeType, 'generation_config.response_mime_type') ?? 'text/plain';
  const maxOutputTokens = optionalNumber(config.maxOutputTokens, 'generation_config.max_output_tokens');
  if (maxOutputTokens !== undefined && maxOutputTokens < 1) throw invalidArgument('max_output_tokens must be a positive number.');
  // A model asked for JSON under a token budget usually closes the object in time: aim inside the
  // budget, so only budgets too small for the object itself end in MAX_TOKENS (as they do on Vertex).
  const target = mimeType === 'application/json' && maxOutputTokens !== undefined ? Math.min(drawn, Math.floor(maxOutputTokens * 0.9)) : drawn;
  let text = mimeType === 'application/json' ? JSON.stringify(fakeJson(prompt.schema, contentRng, target, prompt.text)) : fakeProse(contentRng, target, prompt.text);

  let finishReason = 'STOP';
  if (maxOutputTokens !== undefined && countTextTokens(text) > maxOutputTokens) {
    text = truncateToTokens(text, maxOutputTokens);
    finishReason = 'MAX_TOKENS';
  }
  const outputTokens = countTextTokens(text);

  const thinkingBudget = optionalNumber(asObject(config.thinkingConfig)?.thinkingBudget, 'generation_config.thinking_config.thinking_budget');
  let thoughtsTokens = 0;
  if (behaviour?.thoughts_tokens && thinkingBudget !== 0) {
    thoughtsTokens = draw(behaviour.thoughts_tokens, lengthRng);
    if (thinkingBudget !== undefined && thinkingBudget > 0) thoughtsTokens = Math.min(thoughtsTokens, thinkingBudget);
  }

  return {
    body: envelope(call, ctx, {
      candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason }],
      usageMetadata: {
        promptTokenCount: inputTokens,
        candidatesTokenCount: outputTokens,
        ...(thoughtsTokens > 0 ? { thoughtsTokenCount: thoughtsTokens } : {}),
        totalTokenCount: inputTokens + outputTokens + thoughtsTokens,
        trafficType: 'ON_DEMAND',
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: inputTokens }],
        candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: outputTokens }],
      },
    }),
    usage: { input_tokens: inputTokens, output_tokens: outputTokens + thoughtsTokens },
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
        candidates: [{ finishReason: 'IMAGE_SAFETY', finishMessage: 'Unable to show the generated image: it may violate the usage guidelines (emulator blocked_terms).' }],
        usageMetadata: { promptTokenCount: inputTokens, candidatesTokenCount: 0, totalTokenCount: inputTokens },
      }),
      usage: { input_tokens: inputTokens },
    };
  }
  const png = await renderImage(seededRandom(ctx.config.seed, call.model, 'image', promptKey(prompt)), size[0], size[1]);
  const outputTokens = TOKENS_PER_GEMINI_IMAGE;
  return {
    body: envelope(call, ctx, {
      candidates: [{ content: { role: 'model', parts: [{ inlineData: { mimeType: 'image/png', data: png.toString('base64') } }] }, finishReason: 'STOP' }],
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
