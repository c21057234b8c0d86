import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GoogleGenAI } from '@google/genai';
import { heuristicTokens, typicalTokens } from '../providers/token-heuristics.js';

export type TokenCountMethod = 'local_tokenizer' | 'count_tokens_api' | 'heuristic';

// The local counts live beside the providers (an embedding request is split by them); estimates use them from here too.
export { heuristicTokens, typicalTokens };

export interface TokenCounter {
  method: TokenCountMethod;
  count(model: string, text: string): Promise<number>;
}

const heuristic: TokenCounter = { method: 'heuristic', count: (_model, text) => Promise.resolve(typicalTokens(text)) };

/**
 * The best token counter available without spending: the SDK's local tokenizer when its model
 * file is already cached (it would otherwise download it), else the free `countTokens` call on a
 * sample (scaled by characters for the rest), else a character heuristic (typicalTokens). The method is reported.
 */
export async function bestTokenCounter(options: { client?: GoogleGenAI; sampleModel?: string; sampleText?: string } = {}): Promise<TokenCounter> {
  const cache = join(tmpdir(), 'vertexai_tokenizer_model');
  if (existsSync(cache) && readdirSync(cache).length > 0) {
    try {
      const { LocalTokenizer } = await import('@google/genai/tokenizer');
      const tokenizers = new Map<string, InstanceType<typeof LocalTokenizer>>();
      const probe = new LocalTokenizer(options.sampleModel ?? 'gemini-2.5-flash');
      await probe.countTokens('probe');
      return {
        method: 'local_tokenizer',
        count: async (model, text) => {
          let tokenizer = tokenizers.get(model);
          if (!tokenizer) tokenizers.set(model, (tokenizer = new LocalTokenizer(model)));
          return (await tokenizer.countTokens(text)).totalTokens ?? typicalTokens(text);
        },
      };
    } catch {
      // fall through: no usable local model file
    }
  }
  if (options.client && options.sampleModel && options.sampleText) {
    try {
      const sample = await options.client.models.countTokens({ model: options.sampleModel, contents: options.sampleText });
      const tokensPerChar = (sample.totalTokens ?? 0) / Math.max(1, options.sampleText.length);
      if (tokensPerChar > 0)
        return { method: 'count_tokens_api', count: (_model, text) => Promise.resolve(Math.max(1, Math.round(text.length * tokensPerChar))) };
    } catch {
      // fall through to the heuristic
    }
  }
  return heuristic;
}
