import { hashParts } from './seeded-random.js';

/**
 * How many times each prompt has been asked of one emulator, so that it samples like a model: the
 * n-th ask of a prompt is drawn from (seed, prompt, n). A retry gets a different reply, yet two
 * emulators with the same seed that are asked the same requests in the same order answer alike.
 * Prompts are kept as 52-bit hashes, one number per distinct prompt (a rare collision only makes
 * two prompts share a count, which keeps every reply reproducible).
 */
export class PromptOccurrences {
  private readonly counts = new Map<number, number>();
  /** Prompts asked since the last `takeChanged`, for a caller that keeps the counts (see `restore`). */
  private readonly changed = new Set<number>();

  /** Counts this ask and returns how many earlier asks of the same prompt there were (0 the first time). */
  next(...prompt: readonly (string | number)[]): number {
    const words = hashParts(...prompt);
    const key = (words[0] ?? 0) * 2 ** 20 + ((words[1] ?? 0) >>> 12);
    const earlier = this.counts.get(key) ?? 0;
    this.counts.set(key, earlier + 1);
    this.changed.add(key);
    return earlier;
  }

  /**
   * Counts kept from an earlier emulator (the job's state file, for `--emulator`): asks go on from
   * there, so a prompt asked again after a restart is a new draw, as it would be of one long-lived
   * service. A count never goes down.
   */
  restore(counts: Iterable<readonly [number, number]>): void {
    for (const [key, asked] of counts) if (asked > (this.counts.get(key) ?? 0)) this.counts.set(key, asked);
  }

  /** The counts of prompts asked since the last call, to be kept. */
  takeChanged(): [number, number][] {
    const out: [number, number][] = [];
    for (const key of this.changed) out.push([key, this.counts.get(key) ?? 0]);
    this.changed.clear();
    return out;
  }

  reset(): void {
    this.counts.clear();
    this.changed.clear();
  }
}

/**
 * Seed parts for the n-th ask of a prompt. The first ask adds nothing, so it is drawn exactly as
 * before asks were counted; a request that fixes its own `seed` is sampled the same on every ask.
 */
export function samplePart(asked: number, requestSeed?: number): (string | number)[] {
  if (requestSeed !== undefined) return ['request-seed', requestSeed];
  return asked === 0 ? [] : ['ask', asked];
}
