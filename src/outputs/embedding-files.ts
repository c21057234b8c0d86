import type { Job } from '../job/job.js';
import { renderTemplate } from '../job/template.js';
import type { StateStore } from '../store/state-store.js';
import type { AtomicWriter } from './atomic-write.js';
import { encodeNpyFloat32 } from './npy-writer.js';
import { resolveOutputPath } from './output-path.js';

/**
 * Embedding steps write one file for the whole step, from the state (so a crash never leaves a
 * half-written or duplicated line): JSON Lines of {id, vector}, and optionally a float32 .npy whose
 * rows follow the same order.
 */
export async function writeEmbeddingFiles(job: Job, store: StateStore, writer: AtomicWriter): Promise<string[]> {
  const written: string[] = [];
  for (const step of job.steps) {
    if (step.task !== 'embedding' || !step.output) continue;
    const ids: string[] = [];
    const vectors: number[][] = [];
    for (const row of store.steps.doneResults(step.name)) {
      const vector = (row.result as { vector?: number[] } | null)?.vector;
      if (!vector) continue;
      ids.push(row.itemId);
      vectors.push(vector);
    }
    const jsonl = resolveOutputPath(job.outputDir, renderTemplate(step.output.file, { columns: {}, steps: {}, styles: job.styles }), step.name, step.name);
    await writer.write(jsonl, ids.map((id, i) => JSON.stringify({ id, vector: vectors[i] })).join('\n') + (ids.length ? '\n' : ''));
    written.push(jsonl);
    if (step.output.npy) {
      const npy = resolveOutputPath(job.outputDir, step.output.npy, step.name, step.name);
      await writer.write(npy, encodeNpyFloat32(vectors));
      written.push(npy);
    }
  }
  return written;
}
