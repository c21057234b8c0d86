import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();
let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('embeddings', () => {
  it('sends several texts per request (5x fewer calls), writes JSON Lines and a float32 .npy in input order', async () => {
    emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 20 }), { port: 0 });
    const dir = tempDir();
    writeCredentials(join(dir, 'credentials.yaml'), emulator.url, [{ name: 'vec' }]);
    const step = `  - name: embed
    task: embedding
    model: text-embedding-005
    prompt: "{{title}}. {{meta_description}}"
    params: { output_dimensionality: 64 }
    batch_size: 5
    output: { file: vectors/embeddings.jsonl, npy: vectors/embeddings.npy }
`;
    const job = writeJob(dir, { items: 23, steps: step, limits: '{ concurrency: 8 }' });
    const run = await runCli(['run', job, '--yes']);
    expect(run.code).toBe(0);
    const calls = emulator.log();
    expect(calls.length).toBe(5); // 23 texts in batches of at most 5
    const lines = readFileSync(join(dir, 'out', 'vectors', 'embeddings.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; vector: number[] });
    expect(lines).toHaveLength(23);
    expect(lines[0]?.id).toBe('kubernetes-1');
    expect(lines.every((l) => l.vector.length === 64)).toBe(true);
    const npy = readFileSync(join(dir, 'out', 'vectors', 'embeddings.npy'));
    expect(npy.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
    const headerLength = npy.readUInt16LE(8);
    expect(npy.subarray(10, 10 + headerLength).toString('latin1')).toMatch(/'shape': \(23, 64\)/);
    expect((10 + headerLength) % 64).toBe(0);
    expect(npy.readFloatLE(10 + headerLength)).toBeCloseTo(lines[0]?.vector[0] ?? NaN, 5);
    // The texts of one request came back to the right items: same text, same vector, whatever the batch.
    const again = await runCli(['status', job, '--json']);
    expect((JSON.parse(again.stdout) as { counts: Record<string, number> }).counts.done).toBe(23);
  });
});
