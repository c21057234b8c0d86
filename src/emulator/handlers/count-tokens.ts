import { modelFamily } from '../model-family.js';
import { billableCharacters, countTextTokens } from '../token-count.js';
import { invalidArgument } from '../vertex-error.js';
import { promptCharacters, promptTokens, readGeminiPrompt } from './gemini-prompt.js';
import type { HandlerOutcome, ModelCall } from './model-call.js';
import { asObject, instancesOf } from './request-fields.js';

/** :countTokens (free): the same heuristic as promptTokenCount, so estimates match the bill. */
export function countTokens(call: ModelCall): HandlerOutcome {
  if (call.api === 'gemini') {
    // The Gemini API counts `contents` (or a whole `generateContentRequest`) for every model, embeddings too.
    const prompt = readGeminiPrompt(asObject(call.body.generateContentRequest) ?? call.body, { requireContents: true });
    const totalTokens = promptTokens(prompt);
    return { body: { totalTokens, promptTokensDetails: [{ modality: 'TEXT', tokenCount: totalTokens }] }, usage: {} };
  }
  if (modelFamily(call.model) === 'embedding') {
    let totalTokens = 0;
    let totalBillableCharacters = 0;
    instancesOf(call.body).forEach((instance, i) => {
      if (typeof instance.content !== 'string') throw invalidArgument(`Invalid value at 'instances[${i}].content': expected a string.`);
      totalTokens += countTextTokens(instance.content);
      totalBillableCharacters += billableCharacters(instance.content);
    });
    return { body: { totalTokens, totalBillableCharacters }, usage: {} };
  }
  const prompt = readGeminiPrompt(call.body, { requireContents: true });
  return { body: { totalTokens: promptTokens(prompt), totalBillableCharacters: promptCharacters(prompt) }, usage: {} };
}
