import { createHash, type Hash } from 'node:crypto';
import type { CachingConfig } from '../emulator-config.js';
import { asObject } from '../handlers/request-fields.js';
import { pieceTokenRuns } from '../token-count.js';

/**
 * Implicit caching, as Vertex does it for Gemini 2.5 models: a request whose leading prefix was
 * sent recently (within `implicit_window` of its last use) in the same project, location and model
 * gets that prefix billed as cached (usageMetadata.cachedContentTokenCount), when it is at least
 * `implicit_min_tokens` long. Only the counts change, never the reply.
 *
 * The prefix is the request in the order the model reads it: the system instruction, then each
 * turn of `contents` (its role, then its parts), tokenized as the emulator counts tokens
 * (token-count.ts). Prefixes are remembered and matched in blocks of BLOCK_TOKENS, as a serving
 * stack's prefix cache stores attention state in fixed-size pages: a hit covers the whole blocks two
 * requests share, so it can fall short of the common text by less than one block (under 4% of a
 * 3,000-token style guide), and each request adds one entry per 128 tokens, not one per token.
 */
export const BLOCK_TOKENS = 128;
/** Gemini bills each input image or file as 258 tokens (as gemini-prompt.ts counts them). */
const TOKENS_PER_MEDIA = 258;
/** Forget entries unused for a window once this many inserts have happened since the last sweep. */
const SWEEP_EVERY = 50_000;

interface Walk {
  /** Token count at each block boundary reached, and the prefix hash there. */
  boundaries: { tokens: number; key: string }[];
}

/** Hashes the request's prefix at each BLOCK_TOKENS boundary (a boundary falls after the piece that reaches it). */
function walkPrefix(body: Record<string, unknown>): Walk {
  const hash: Hash = createHash('sha256');
  const boundaries: Walk['boundaries'] = [];
  let tokens = 0;
  let next = BLOCK_TOKENS;
  const advance = (piece: string, cost: number): void => {
    hash.update(piece);
    tokens += cost;
    if (tokens >= next) {
      boundaries.push({ tokens, key: hash.copy().digest('base64url') });
      next = (Math.floor(tokens / BLOCK_TOKENS) + 1) * BLOCK_TOKENS;
    }
  };
  const walkText = (text: string): void => {
    for (const [piece, cost] of pieceTokenRuns(text)) advance(piece, cost);
  };
  // As gemini-prompt.ts counts: system texts joined by a line break, then contents' texts joined by one.
  const system = asObject(body.systemInstruction);
  hash.update('\u0000system\u0000');
  let first = true;
  for (const part of Array.isArray(system?.parts) ? system.parts : []) {
    const text = asObject(part)?.text;
    if (typeof text !== 'string') continue;
    if (!first) walkText('\n');
    walkText(text);
    first = false;
  }
  first = true;
  for (const content of Array.isArray(body.contents) ? body.contents : []) {
    const turn = asObject(content);
    hash.update(`\u0000turn:${String(turn?.role ?? 'user')}\u0000`);
    for (const part of Array.isArray(turn?.parts) ? turn.parts : []) {
      const p = asObject(part);
      if (typeof p?.text === 'string') {
        if (!first) walkText('\n');
        walkText(p.text);
        first = false;
      } else if (p && (p.inlineData !== undefined || p.fileData !== undefined)) {
        advance(`\u0000media:${JSON.stringify(p.inlineData ?? p.fileData)}\u0000`, TOKENS_PER_MEDIA);
      }
    }
  }
  return { boundaries };
}

/** Whether a model gets implicit caching: Gemini 2.5 text models (on by default there, on Vertex). */
export function implicitlyCached(model: string): boolean {
  return model.startsWith('gemini-2.5-') && !model.includes('image');
}

export class ImplicitCache {
  /** `project|location|model|prefix hash` -> when that prefix was last sent. */
  private readonly seen = new Map<string, number>();
  private inserts = 0;

  constructor(private readonly config: () => CachingConfig) {}

  /**
   * The cached tokens of this request (0 when none), and remembers its prefixes for later requests.
   * Called once per answered request, before the reply is made.
   */
  serve(scope: { project: string; location: string; model: string }, body: Record<string, unknown>, now: number): number {
    const config = this.config();
    if (!config.implicit || !implicitlyCached(scope.model)) return 0;
    const { boundaries } = walkPrefix(body);
    const prefix = `${scope.project}|${scope.location}|${scope.model}|`;
    let cached = 0;
    for (const boundary of boundaries) {
      if (boundary.tokens < config.implicit_min_tokens) continue;
      const last = this.seen.get(prefix + boundary.key);
      if (last !== undefined && now - last <= config.implicit_window) cached = boundary.tokens;
    }
    for (const boundary of boundaries) this.seen.set(prefix + boundary.key, now);
    this.inserts += boundaries.length;
    if (this.inserts >= SWEEP_EVERY) this.sweep(now, config.implicit_window);
    return cached;
  }

  private sweep(now: number, window: number): void {
    this.inserts = 0;
    for (const [key, last] of this.seen) if (now - last > window) this.seen.delete(key);
  }

  clear(): void {
    this.seen.clear();
    this.inserts = 0;
  }
}
