import Database from 'better-sqlite3';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { emptyUsage } from '../../src/providers/provider.js';

/** What the emulator billed, priced at list prices (thinking tokens are in its output tokens). */
export function billedUsd(emulator: RunningEmulator): number {
  const catalog = PriceCatalog.load();
  let usd = 0;
  for (const project of Object.values(emulator.stats().projects)) {
    for (const [model, c] of Object.entries(project.by_model)) {
      usd += catalog.cost(model, {
        ...emptyUsage(),
        inputTokens: c.input_tokens,
        outputTokens: c.output_tokens,
        images: model.startsWith('imagen') ? c.images : 0,
      });
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
