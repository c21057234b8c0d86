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
    const rows = store.db
      .prepare("SELECT s.item_id AS id, s.result_json AS result FROM item_steps s JOIN items i ON i.id = s.item_id WHERE s.step = ? AND s.state = 'done' ORDER BY i.ord")
      .all(step.name) as { id: string; result: string | null }[];
    for (const row of rows) {
      const vector = (JSON.parse(row.result ?? 'null') as { vector?: number[] } | null)?.vector;
      if (!vector) continue;
      ids.push(row.id);
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
