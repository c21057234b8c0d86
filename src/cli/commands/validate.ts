import { prepareJob } from '../../engine/prepare-job.js';
import { line, type CliIO } from '../io.js';

/** `genbatch validate JOB`: job file, credentials, prices and input checked, no API call. */
export async function validateCommand(jobFile: string, flags: { emulator?: boolean }, io: CliIO): Promise<number> {
  const prepared = await prepareJob(jobFile, { emulated: flags.emulator ?? false });
  const { job } = prepared;
  line(
    io.stderr,
    `${job.name}: valid. ${prepared.rows} items × ${job.steps.length} step(s) (${job.steps.map((s) => `${s.name}: ${s.task} ${s.model}`).join(', ')}); ${prepared.credentials.projects.length} project(s).`,
  );
  return 0;
}
