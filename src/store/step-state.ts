/** Where a step of an item stands: `pending → running → done | failed | filtered`. */
export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'filtered';
export const STEP_STATES: readonly StepState[] = ['pending', 'running', 'done', 'failed', 'filtered'];
