import { isGenbatchError } from '../../errors/genbatch-error.js';
import { repairInput, type RepairResult } from '../../input/index.js';

type Out = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream };

/**
 * `genbatch repair FILE --out CLEAN`: writes a clean copy of a delimited file, proposed merges applied
 * and every field quoted as needed. Exit 0 when written; 1 when some bad rows have no safe repair
 * (listed, nothing written); 2 when the file cannot be read or --out is the input itself.
 */
export async function repairCommand(file: string, opts: { out: string; encoding?: string }, io: Out): Promise<number> {
  let result: RepairResult;
  try {
    result = await repairInput({ file, ...(opts.encoding === undefined ? {} : { encoding: opts.encoding }) }, opts.out);
  } catch (error) {
    if (!isGenbatchError(error)) throw error;
    io.stderr.write(`error: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`);
    return error.code === 'INPUT_BAD_ROW' ? 1 : 2;
  }
  if (!result.written) {
    const n = result.unrepairable.length;
    io.stderr.write(`error: ${file} has ${n} bad ${n === 1 ? 'row' : 'rows'} with no safe repair; nothing was written:\n`);
    for (const p of result.unrepairable) io.stderr.write(`  line ${p.line}: ${p.kind}: ${p.message}\n`);
    io.stderr.write(`hint: fix these rows in ${file} (quote fields that contain the delimiter, complete cut rows), then run repair again.\n`);
    return 1;
  }
  const parts = [`${result.rows} rows`, `${result.repaired} repaired`];
  if (result.dropped > 0) parts.push(`${result.dropped} blank ${result.dropped === 1 ? 'line' : 'lines'} dropped`);
  io.stdout.write(`Wrote ${opts.out}: ${parts.join(', ')}.\n`);
  return 0;
}
