import Database from 'better-sqlite3';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';

/**
 * What the emulator billed, priced at list prices (thinking tokens are in its output tokens): online
 * calls, their cached input tokens at the cached price, and batch lines at the batch price, except
 * their cached tokens, which cost the cached price (the discounts do not stack). Cache storage
 * (`cache_storage_token_hours`) is not priced here.
 */
export function billedUsd(emulator: RunningEmulator): number {
  const catalog = PriceCatalog.load();
  let usd = 0;
  for (const project of Object.values(emulator.stats().projects)) {
    for (const [model, c] of Object.entries(project.by_model)) {
      usd += catalog.cost(model, {
        ...emptyUsage(),
        inputTokens: c.input_tokens,
        cachedTokens: c.cached_input_tokens,
        outputTokens: c.output_tokens,
        images: model.startsWith('imagen') ? c.images : 0,
      });
      if (c.batch_ok > 0) {
        usd += catalog.batchCost(model, {
          ...emptyUsage(),
          inputTokens: c.batch_input_tokens,
          cachedTokens: c.batch_cached_input_tokens,
          outputTokens: c.batch_output_tokens,
        });
      }
    }
  }
  return usd;
}

/** Calls the emulator answered with a billed reply. */
export const billedCalls = (emulator: RunningEmulator): number => Object.values(emulator.stats().projects).reduce((n, p) => n + p.ok, 0);

/** What a job's ledger holds (USD), read from its state file as an auditor would. */
export function ledgerUsd(stateFile: string): number {
  const db = new Database(stateFile, { readonly: true });
  try {
    return (db.prepare('SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger').get() as { usd: number }).usd;
  } finally {
    db.close();
  }
}
