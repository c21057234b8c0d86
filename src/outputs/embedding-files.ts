import { endianness } from 'node:os';
import { GenbatchError } from '../errors/genbatch-error.js';
import type { Job } from '../job/job.js';
import { renderTemplate } from '../job/template.js';
import type { ResultsReadModel } from '../store/interfaces/results-read-model.js';
import { FIRST_ITEM } from '../store/item-cursor.js';
import { npyHeader } from './npy-writer.js';
import { resolveOutputPath } from './output-path.js';
import { AtomicWriter } from './atomic-write.js';
import type { PieceWriter } from './stream-file.js';

/** Vectors read from the state at a time. */
const PAGE = 500;
const BIG_ENDIAN_HOST = endianness() === 'BE';

/** The .npy being written: `headerBytes` reserved at the start for the header, then float32 rows. */
interface Matrix {
  out: PieceWriter;
  /** Rows the reserved header is sized for (the step's finished items: at least as many as the vectors). */
  reserveRows: number;
  rows: number;
  columns: number;
  headerBytes: number;
}

/**
 * Embedding steps write one file for the whole step, from the state (so a crash never leaves a
 * half-written or duplicated line): JSON Lines of {id, vector}, and optionally a float32 .npy whose
 * rows follow the same order. Both are streamed a page of vectors at a time, so a million vectors
 * are never in memory together; the .npy header, reserved before the rows, is written last.
 */
export async function writeEmbeddingFiles(job: Job, store: ResultsReadModel, scratchDir: string): Promise<string[]> {
  const written: string[] = [];
  const writer = new AtomicWriter(scratchDir);
  for (const step of job.steps) {
    if (step.task !== 'embedding' || !step.output) continue;
    const jsonl = resolveOutputPath(job.outputDir, renderTemplate(step.output.file, { columns: {}, steps: {}, styles: job.styles }), step.name, step.name);
    const npy = step.output.npy ? resolveOutputPath(job.outputDir, step.output.npy, step.name, step.name) : undefined;
    await writer.writeInPieces(jsonl, async (lines) => {
      if (!npy) return streamVectors(store, step.name, lines);
      await writer.writeInPieces(npy, async (out) => {
        const matrix: Matrix = { out, reserveRows: store.steps.finishedCount(step.name), rows: 0, columns: 0, headerBytes: 0 };
        await streamVectors(store, step.name, lines, matrix);
        // The reserved room holds the header of fewer rows too (padded with spaces, as .npy allows).
        if (matrix.rows === 0) await out.append(npyHeader(0, 0));
        else await out.writeAt(0, npyHeader(matrix.rows, matrix.columns, matrix.headerBytes));
      });
    });
    written.push(jsonl);
    if (npy) written.push(npy);
  }
  return written;
}

/** Streams the step's done vectors, in input order, as JSON Lines and (with `matrix`) as float32 rows. */
async function streamVectors(store: ResultsReadModel, step: string, lines: PieceWriter, matrix?: Matrix): Promise<void> {
  let cursor = FIRST_ITEM;
  let count = 0;
  for (;;) {
    const page = store.steps.doneResults(step, cursor, PAGE);
    const text: string[] = [];
    const vectors: number[][] = [];
    for (const row of page) {
      const vector = (row.result as { vector?: number[] } | null)?.vector;
      if (!vector) continue;
      if (matrix) {
        if (count === 0) {
          matrix.columns = vector.length;
          matrix.headerBytes = npyHeader(Math.max(matrix.reserveRows, 1), vector.length).length;
          await matrix.out.append(Buffer.alloc(matrix.headerBytes, 0x20));
        } else if (vector.length !== matrix.columns) {
          throw new GenbatchError(`Cannot write the .npy file: vector ${count} has ${vector.length} values, but vector 0 has ${matrix.columns}.`, {
            code: 'NPY_RAGGED',
            hint: 'Every embedding of a step must have the same dimension; check output_dimensionality and the model of the step.',
          });
        }
      }
      text.push(`${JSON.stringify({ id: row.itemId, vector })}\n`);
      vectors.push(vector);
      count += 1;
    }
    if (text.length > 0) await lines.append(text.join(''));
    if (matrix && vectors.length > 0) {
      const floats = new Float32Array(vectors.length * matrix.columns);
      vectors.forEach((vector, row) => floats.set(vector, row * matrix.columns));
      const data = Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);
      if (BIG_ENDIAN_HOST) data.swap32(); // .npy '<f4' is little-endian
      await matrix.out.append(data);
      matrix.rows += vectors.length;
    }
    const last = page.at(-1);
    if (!last || page.length < PAGE) return;
    cursor = last.cursor;
  }
}
