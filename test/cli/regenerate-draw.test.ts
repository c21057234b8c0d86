import { readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../src/library/open-state.js';
import { runCli } from '../helpers/cli.js';
import { writeCredentials, writeJob } from '../helpers/emulated-job.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-client.js';
import { useTempDir } from '../helpers/temp-dir.js';

// Issue 27.12: a regenerated item is a new draw, on the emulator and at Vertex.
const tempDir = useTempDir();

const NOTE = (params = ''): string => `  - name: note
    task: text
    model: gemini-2.5-flash
    prompt: "A short note about {{title}}"
    max_output_tokens: 2000
${params}    output: { file: "notes/{{slug}}.txt" }
`;

const notes = (dir: string, ids: string[]): Record<string, string> =>
  Object.fromEntries(ids.map((id) => [id, readFileSync(join(dir, 'out', 'notes', `${id}.txt`), 'utf8')]));

/** A front of the emulator that keeps each generateContent request's JSON (what the SDK sent, as Vertex would receive it). */
async function recordingFront(target: string): Promise<{ url: string; bodies: Record<string, unknown>[]; close: () => Promise<void> }> {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url?.includes(':generateContent')) bodies.push(JSON.parse(body.toString()) as Record<string, unknown>);
      const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let emulator: TestEmulator;
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(() => emulator.close());

describe('a regenerated item is a new draw (issue 27.12)', () => {
  it('--emulator: reject, retry --rejected, run again: the rejected note is new, the others are as they were', async () => {
    const dir = tempDir();
    // The in-process emulator of --emulator reads only the quotas of this file.
    writeCredentials(join(dir, 'credentials.yaml'), 'https://unused.invalid', [{ name: 'proj-a' }]);
    const job = writeJob(dir, { items: 3, steps: NOTE(), limits: '{ concurrency: 1, max_attempts: 2 }' });
    expect((await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir })).code).toBe(0);
    const ids = ['kubernetes-1', 'terraform-2', 'postgresql-3'];
    const before = notes(dir, ids);
    expect((await runCli(['reject', job, 'terraform-2'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['retry', job, '--rejected'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['run', job, '--emulator', '--yes', '--plain'], { cwd: dir })).code).toBe(0);
    const after = notes(dir, ids);
    expect(after['terraform-2']).not.toBe(before['terraform-2']);
    expect([after['kubernetes-1'], after['postgresql-3']]).toEqual([before['kubernetes-1'], before['postgresql-3']]);

    // Rejected again and put back, then the reviewer keeps the old one before any run: done again, as it was.
    expect((await runCli(['reject', job, 'terraform-2'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['retry', job, '--rejected'], { cwd: dir })).code).toBe(0);
    const state = await openState(job);
    try {
      const note = (): { state: string; result: unknown } | undefined => state.item('terraform-2')?.steps.find((s) => s.step === 'note');
      expect(note()?.state).toBe('pending');
      expect(state.replacedOutputs().map((r) => r.itemId)).toEqual(['terraform-2']);
      expect(state.keepOld(['terraform-2'])).toBe(1);
      expect(note()?.state).toBe('done');
      expect((note()?.result as { text: string }).text).toBe(after['terraform-2']);
      expect(state.store.replacedOfItem('terraform-2').map((r) => r.decision)).toEqual(['old']);
      expect(state.replacedOutputs()).toEqual([]);
    } finally {
      state.close();
    }
    expect(notes(dir, ids)).toEqual(after);
  }, 60_000);

  it('a step that sets a seed sends another one when regenerated (generationConfig.seed as the emulator receives it)', async () => {
    const dir = tempDir();
    const front = await recordingFront(emulator.url);
    try {
      writeCredentials(join(dir, 'credentials.yaml'), front.url, [{ name: 'proj-a' }]);
      const job = writeJob(dir, { items: 2, steps: NOTE('    params: { seed: 7 }\n'), limits: '{ concurrency: 1, max_attempts: 2 }' });
      expect((await runCli(['run', job, '--yes', '--plain'], { cwd: dir })).code).toBe(0);
      const seeds = (): unknown[] => front.bodies.map((b) => (b.generationConfig as { seed?: number }).seed);
      expect(seeds()).toEqual([7, 7]);
      const before = notes(dir, ['kubernetes-1']);
      expect((await runCli(['reject', job, 'kubernetes-1'], { cwd: dir })).code).toBe(0);
      expect((await runCli(['retry', job, '--rejected'], { cwd: dir })).code).toBe(0);
      expect((await runCli(['run', job, '--yes', '--plain'], { cwd: dir })).code).toBe(0);
      expect(seeds()).toEqual([7, 7, 8]);
      // The emulator samples a request's own seed alike on every ask, as Vertex does: another seed, another reply.
      expect(notes(dir, ['kubernetes-1'])).not.toEqual(before);
      // Rejected and regenerated once more: the seed moves on again.
      expect((await runCli(['reject', job, 'kubernetes-1'], { cwd: dir })).code).toBe(0);
      expect((await runCli(['retry', job, '--rejected'], { cwd: dir })).code).toBe(0);
      expect((await runCli(['run', job, '--yes', '--plain'], { cwd: dir })).code).toBe(0);
      expect(seeds()).toEqual([7, 7, 8, 9]);
    } finally {
      await front.close();
    }
  }, 60_000);
});
