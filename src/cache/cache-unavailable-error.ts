import { GenbatchError } from '../errors/genbatch-error.js';

/** Why the cache cannot be used: its file is damaged, from a newer genbatch, not genbatch's, or the disk failed it. */
export type CacheUnavailableReason = 'damaged' | 'too_new' | 'foreign' | 'io';

/**
 * The response cache cannot be used. A run never stops for it: `ResponseCache.open`, `get`, `put` and
 * `forget` never throw this, they set `cache.unavailable` (every lookup is then a miss and nothing is
 * stored), and the calls are simply made and paid. `stats()` and `prune()` throw it, so that
 * `genbatch cache stats` says what is wrong; `genbatch cache clear` removes the files whatever state they are in.
 */
export class CacheUnavailableError extends GenbatchError {
  constructor(
    readonly reason: CacheUnavailableReason,
    readonly dir: string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, {
      code: 'CACHE_UNAVAILABLE',
      retryable: false,
      hint:
        options.hint ??
        `Run \`genbatch cache clear\` to remove it (the cache starts empty; no job state is touched), or point GENBATCH_CACHE_DIR at another folder. Runs go on meanwhile, without the cache.`,
      cause: options.cause,
    });
  }
}
