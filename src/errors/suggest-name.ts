import { distance } from 'fastest-levenshtein';

/**
 * The one "did you mean …" of genbatch: the valid name a mistyped one most likely meant (job and
 * credentials keys, step parameters, model names, columns, styles, results fields, emulator config
 * keys). The nearest by edit distance, ignoring case, when it is close enough to be a typo (at most a
 * third of the name, and always 2); else a name that starts the typed one or that it starts ("temp" for
 * "temperature"); else none.
 */
export function nearestName(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(lower, candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))) return best;
  if (lower === '') return undefined;
  return candidates.find((c) => c !== '' && (c.toLowerCase().startsWith(lower) || lower.startsWith(c.toLowerCase())));
}
