import { createHash } from 'node:crypto';
import { canonicalRequest } from '../../providers/gemini-batch.js';

/**
 * Which item a batch output line answers. Google documents an output line as `status`,
 * `processed_time`, `request` (echoed) and `response`: it does not promise to keep the input
 * line's other fields (our `key`) nor the input order. So each request carries its item's key
 * where Vertex must return it, in `request.labels`, and its canonical hash is kept; a line is
 * matched by `key` when present, else by that label, else by the hash of the echoed request.
 * Never by position.
 */

/** The label that carries an item's key in each batch request. */
export const ITEM_LABEL = 'genbatch_item';

/**
 * An item's label value: `i` and 40 hex digits of the SHA-256 of its id (Vertex label values are
 * lowercase letters, digits, `_` and `-`, at most 63 characters; item ids can be anything). Worked
 * out again from the id alone, so a resumed run matches the lines of a job an earlier run submitted.
 */
export function itemLabel(itemId: string): string {
  return `i${createHash('sha256').update(itemId, 'utf8').digest('hex').slice(0, 40)}`;
}

/** SHA-256 of the request's canonical form (see canonicalRequest); undefined when it is not a request. */
export function requestHash(request: unknown): string | undefined {
  const text = canonicalRequest(request);
  return text === undefined ? undefined : createHash('sha256').update(text, 'utf8').digest('hex');
}

export type MatchedBy = 'key' | 'label' | 'hash';

export interface LineMatch<M> {
  itemId: string;
  member: M;
  by: MatchedBy;
}

/** What an output line carries that can name its item. */
interface LineFields {
  key?: unknown;
  request?: unknown;
}

function labelOf(request: unknown): string | undefined {
  if (request === null || typeof request !== 'object') return undefined;
  const labels = (request as { labels?: unknown }).labels;
  if (labels === null || typeof labels !== 'object') return undefined;
  const value = (labels as Record<string, unknown>)[ITEM_LABEL];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The items of one batch job, found by key, label or request hash. Each item is matched at most
 * once: a second line for an item already answered matches nothing (it is counted apart). Items with
 * the same request (the same prompt) share a hash; a line matched by hash takes the first of them
 * still unanswered, which is right since they asked the very same thing.
 */
export class BatchLineMatcher<M> {
  private readonly byKey = new Map<string, M>();
  private readonly byLabel = new Map<string, string>();
  private readonly byHash = new Map<string, string[]>();
  private readonly matched = new Set<string>();

  constructor(members: Iterable<{ itemId: string; member: M; hash: string | undefined }>) {
    for (const { itemId, member, hash } of members) {
      this.byKey.set(itemId, member);
      this.byLabel.set(itemLabel(itemId), itemId);
      if (hash === undefined) continue;
      const same = this.byHash.get(hash);
      if (same) same.push(itemId);
      else this.byHash.set(hash, [itemId]);
    }
  }

  /** The item the line answers, or undefined (no item, or one already answered). */
  match(line: LineFields): LineMatch<M> | undefined {
    if (typeof line.key === 'string' && this.byKey.has(line.key)) return this.take(line.key, 'key');
    const label = labelOf(line.request);
    if (label !== undefined) {
      const itemId = this.byLabel.get(label);
      // A label of ours that names no item of this job: a hash match would only guess.
      return itemId === undefined ? undefined : this.take(itemId, 'label');
    }
    const hash = requestHash(line.request);
    const candidates = hash === undefined ? undefined : this.byHash.get(hash);
    const itemId = candidates?.find((id) => !this.matched.has(id));
    return itemId === undefined ? undefined : this.take(itemId, 'hash');
  }

  /** Why a line matched nothing, for the log and the error. */
  explain(line: LineFields): string {
    if (typeof line.key === 'string' && this.byKey.has(line.key)) return `a second line for item "${line.key}"`;
    const label = labelOf(line.request);
    if (label !== undefined) {
      const itemId = this.byLabel.get(label);
      return itemId === undefined ? `label ${ITEM_LABEL}=${label} names no item of this job` : `a second line for item "${itemId}"`;
    }
    const hash = requestHash(line.request);
    if (hash === undefined) return 'no request echoed';
    return this.byHash.has(hash) ? 'a second line for a request already answered' : `no key, no ${ITEM_LABEL} label, and its request matches none sent`;
  }

  private take(itemId: string, by: MatchedBy): LineMatch<M> | undefined {
    if (this.matched.has(itemId)) return undefined;
    const member = this.byKey.get(itemId);
    if (member === undefined) return undefined;
    this.matched.add(itemId);
    return { itemId, member, by };
  }
}
