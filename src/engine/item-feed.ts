import type { Job } from '../job/job.js';
import type { WorkItems } from '../store/interfaces/work-items.js';
import { nextUnit, type Unit } from './unit.js';

const PAGE = 256;

/**
 * The items with work left, in input order, a page of the state at a time: each item's next unit.
 * `limit` takes only the first N items with work left (`--limit`).
 */
export class ItemFeed {
  private cursor = -1;
  private taken = 0;
  private ended = false;

  constructor(
    private readonly job: Job,
    private readonly store: WorkItems,
    private readonly limit: number | undefined,
  ) {}

  /** Whether every item with work left has been handed out. */
  get done(): boolean {
    return this.ended;
  }

  /** The next page's units (an item whose steps are all done gives none); empty once done. */
  nextPage(): Unit[] {
    if (this.ended) return [];
    const page = this.store.pendingItems(this.cursor, PAGE);
    if (page.length === 0) this.ended = true;
    const units: Unit[] = [];
    for (const item of page) {
      if (this.limit !== undefined && this.taken >= this.limit) {
        this.ended = true;
        break;
      }
      this.cursor = item.ord;
      this.taken += 1;
      const unit = nextUnit(this.job, this.store.itemSteps(item.id), item);
      if (unit) units.push(unit);
    }
    return units;
  }
}
