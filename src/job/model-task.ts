import type { TaskKind } from '../providers/provider.js';

/** The kinds of model genbatch knows, by name (as Vertex AI and the Gemini API name them). */
type ModelKind = 'gemini-text' | 'gemini-image' | 'imagen' | 'embedding' | 'veo' | 'unknown';

function kindOf(model: string): ModelKind {
  if (/^(text-embedding-|text-multilingual-embedding-|gemini-embedding-)/.test(model)) return 'embedding';
  if (model.startsWith('imagen-')) return 'imagen';
  if (model.startsWith('veo-')) return 'veo';
  if (model.startsWith('gemini-')) return model.includes('image') ? 'gemini-image' : 'gemini-text';
  return 'unknown';
}

const SERVES: Record<TaskKind, readonly ModelKind[]> = {
  text: ['gemini-text'],
  image: ['imagen', 'gemini-image'],
  embedding: ['embedding'],
  video: ['veo'],
};

const WANTED: Record<TaskKind, string> = {
  text: 'a Gemini text model (gemini-2.5-flash, …)',
  image: 'an image model (imagen-4.0-…, gemini-2.5-flash-image)',
  embedding: 'an embedding model',
  video: 'a Veo model',
};

/**
 * Why a model cannot stand in for a step's task, or undefined when it can: an image step cannot
 * fall back to a text model, and a JSON step needs a model that answers with JSON (Gemini text).
 */
export function fallbackProblem(task: TaskKind, model: string, json: boolean): string | undefined {
  const kind = kindOf(model);
  if (kind === 'unknown') return undefined; // a custom model priced under `prices:`: the user knows it
  if (SERVES[task].includes(kind)) return undefined;
  const kindOfStep = `${json ? 'JSON ' : ''}${task}`;
  return `${model} cannot do ${/^[aeiou]/i.test(kindOfStep) ? 'an' : 'a'} ${kindOfStep} step: it needs ${WANTED[task]}`;
}
