import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { readStateFile } from '../helpers/state-file.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const IMAGEN = 'imagen-4.0-fast-generate-001';
const GEMINI_IMAGE = 'gemini-2.5-flash-image';

const heroStep = (fallback: string): string => `  - name: hero
    task: image
    model: ${IMAGEN}
    fallback: [${fallback}]
    prompt: "A hero image for {{title}}"
    output: { file: "images/{{slug}}.png" }
`;

interface LedgerRow {
  model: string;
  http_status: number;
  cost_usd: number;
  images: number;
}

describe('fallback chains', () => {
  it("Imagen's quota is out on the only project: every item is done on the fallback model, which results, status and the ledger name and price", async () => {
    const dir = tempDir();
    // The project's Imagen quota is gone for the day from the first call; Gemini image still serves.
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 5, projects: { solo: { models: { [IMAGEN]: { exhaust_after: 0 } } } } }), { port: 0 });
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, {
      items: 12,
      steps: heroStep(GEMINI_IMAGE),
      limits: '{ concurrency: 4, max_attempts: 3, max_stall: 30s }',
      extra: 'results: results.csv\n',
    });

    // The estimate prices the step's own model, and says what the fallback would cost instead.
    const estimate = await runCli(['estimate', job]);
    expect(estimate.code, estimate.stderr).toBe(0);
    const shown = estimate.stdout + estimate.stderr;
    expect(shown).toMatch(/hero\s+image\s+imagen-4\.0-fast-generate-001\s+12 calls\s+\$0\.24/);
    expect(shown).toMatch(/if on fallback gemini-2\.5-flash-image: \$0\.4\d/);

    const run = await runCli(['run', job, '--yes', '--plain']);
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`fallback: ${GEMINI_IMAGE} instead of ${IMAGEN}`));

    // The emulator: Imagen refused (429, nothing billed), every image made by Gemini image.
    const stats = emulator.stats().projects.solo;
    expect(stats?.by_model[GEMINI_IMAGE]?.ok).toBe(12);
    expect(stats?.by_model[IMAGEN]?.ok ?? 0).toBe(0);
    expect(stats?.by_model[IMAGEN]?.rejected_429).toBeGreaterThanOrEqual(1);

    // The results file names the model of every item.
    const rows = parse(readFileSync(join(dir, 'results.csv')), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((r) => `${r.hero_state} ${r.hero_model}`))).toEqual(new Set([`done ${GEMINI_IMAGE}`]));

    // status --json: done items by model.
    const status = JSON.parse((await runCli(['status', job, '--json'])).stdout) as { models: Record<string, { by_model: Record<string, number> }> };
    expect(status.models.hero?.by_model).toEqual({ [GEMINI_IMAGE]: 12 });

    // The ledger prices each call for its own model: $0.039 a Gemini image, $0 for the refused Imagen calls.
    const ledger = readStateFile(join(dir, '.genbatch', 'quota-job.db'), (db) =>
      db.prepare('SELECT model, http_status, cost_usd, images FROM ledger').all(),
    ) as LedgerRow[];
    const catalog = PriceCatalog.load();
    const perGeminiImage = catalog.cost(GEMINI_IMAGE, {
      inputTokens: 0,
      outputTokens: 1290,
      thoughtsTokens: 0,
      images: 1,
      videoSeconds: 0,
      characters: 0,
      cachedTokens: 0,
    });
    const made = ledger.filter((r) => r.http_status === 200);
    expect(made).toHaveLength(12);
    for (const row of made) {
      expect(row.model).toBe(GEMINI_IMAGE);
      expect(row.cost_usd).toBeGreaterThan(perGeminiImage * 0.9);
      expect(row.cost_usd).toBeLessThan(perGeminiImage * 1.1);
    }
    for (const row of ledger.filter((r) => r.model === IMAGEN)) expect([row.http_status, row.cost_usd]).toEqual([429, 0]);
  });

  it('when the first model can be served again, new items use it again', async () => {
    const dir = tempDir();
    // Imagen takes 2 calls per 1.5 s on the project: between windows, items go to Gemini image.
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 100, projects: { solo: { models: { [IMAGEN]: { requests: 2, window: '1500ms' } } } } }), {
      port: 0,
    });
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, {
      items: 30,
      steps: heroStep(GEMINI_IMAGE),
      limits: '{ concurrency: 2, max_attempts: 3, max_stall: 30s }',
      extra: 'results: results.csv\n',
    });
    const run = await runCli(['run', job, '--yes', '--plain']);
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`fallback: back to ${IMAGEN}`));
    const rows = parse(readFileSync(join(dir, 'results.csv')), { columns: true }) as Record<string, string>[];
    const byModel = new Map<string, number>();
    for (const r of rows) byModel.set(r.hero_model ?? '', (byModel.get(r.hero_model ?? '') ?? 0) + 1);
    // Imagen made more than its first window's two: it was used again after the fallback.
    expect(byModel.get(IMAGEN)).toBeGreaterThan(2);
    expect(byModel.get(GEMINI_IMAGE)).toBeGreaterThan(0);
    expect((byModel.get(IMAGEN) ?? 0) + (byModel.get(GEMINI_IMAGE) ?? 0)).toBe(30);
  });

  it('a model the project cannot use (404 for that model alone) falls back at once; nothing fails, the project stays in use', async () => {
    const dir = tempDir();
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 5, projects: { solo: { unavailable_models: ['gemini-2.5-pro'] } } }), { port: 0 });
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, {
      items: 6,
      steps: `  - name: blurb
    task: text
    model: gemini-2.5-pro
    fallback: [gemini-2.5-flash]
    prompt: "A blurb for {{title}}"
    max_output_tokens: 1000
`,
      limits: '{ concurrency: 2, max_attempts: 2 }',
      extra: 'results: results.jsonl\n',
    });
    const run = await runCli(['run', job, '--yes', '--plain']);
    expect(run.code, run.stderr.slice(-1500)).toBe(0);
    expect(run.stderr).toMatch(/unavailable: gemini-2\.5-pro on project solo for this run/);
    const records = readFileSync(join(dir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { steps: { blurb: { state: string; model: string } } });
    expect(records.map((r) => `${r.steps.blurb.state} ${r.steps.blurb.model}`)).toEqual(Array(6).fill('done gemini-2.5-flash'));
    // At most the calls in flight when the 404 came met it; not one per item.
    expect(emulator.stats().projects.solo?.by_model['gemini-2.5-pro']?.requests).toBeLessThanOrEqual(2);
  });

  it('validate refuses a fallback that cannot do the task, naming the line (exit 2, nothing sent)', async () => {
    const dir = tempDir();
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 0 }), { port: 0 });
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'solo' }]);
    const job = writeJob(dir, { items: 2, steps: heroStep('gemini-2.5-flash'), limits: '{ concurrency: 1 }' });
    for (const command of ['validate', 'run']) {
      const result = await runCli(command === 'run' ? [command, job, '--yes'] : [command, job]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/job\.yaml:\d+: steps\.hero\.fallback\[0\]: gemini-2\.5-flash cannot do an image step: it needs an image model/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(Object.keys(emulator.stats().projects)).toEqual([]);
  });
});
