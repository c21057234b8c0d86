import { existsSync } from 'node:fs';
import { CredentialsWatcher } from '../../credentials/credentials-watcher.js';
import { Engine } from '../../engine/engine.js';
import { startEmulatorForCredentials } from '../../engine/emulated-credentials.js';
import { prepareJob, syncItems } from '../../engine/prepare-job.js';
import { findStaleItems } from '../../engine/staleness.js';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { displayPath } from '../../job/load-job.js';
import { StateStore } from '../../store/state-store.js';
import { line, type CliIO } from '../io.js';
import { attachRunReporter } from '../run-reporter.js';

export interface RunFlags {
  emulator?: boolean;
  yes?: boolean;
  limit?: number;
  json?: boolean;
  /** `resume`: refuse to start a fresh run. */
  resumeOnly?: boolean;
  /** Redo done items whose input row or templates changed since they were done. */
  redoStale?: boolean;
}

/** `genbatch run JOB` and `genbatch resume JOB`: validate, then process; Ctrl-C stops cleanly. */
export async function runCommand(jobFile: string, flags: RunFlags, io: CliIO): Promise<number> {
  const prepared = await prepareJob(jobFile, { emulated: flags.emulator ?? false });
  const { job } = prepared;
  if (flags.resumeOnly && !existsSync(job.stateFile)) {
    throw new GenbatchError(`There is no run of ${job.name} to resume (no state file at ${displayPath(job.stateFile)}).`, {
      code: 'NOTHING_TO_RESUME',
      exitCode: 2,
      hint: `Start it with: genbatch run ${jobFile}`,
    });
  }
  const emulator = flags.emulator ? await startEmulatorForCredentials(prepared.credentials, job.steps.map((s) => s.model)) : undefined;
  const credentials = emulator ? emulator.credentials : prepared.credentials;
  if (emulator) line(io.stderr, `Using the in-process Vertex AI emulator at ${emulator.url} (no Google account, nothing billed).`);
  const store = StateStore.open(job.stateFile);
  let interrupts = 0;
  const engine = new Engine({ job, credentials, store, catalog: prepared.catalog, ...(flags.limit === undefined ? {} : { limit: flags.limit }) });
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts === 1) engine.requestStop('cancelled');
    else {
      line(io.stderr, 'Exiting now. Calls in flight are redone by the next run (genbatch resume).');
      process.exit(4);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  // The credentials file is watched (and reloaded on SIGHUP): projects can be added, changed or removed mid-run.
  const watcher = new CredentialsWatcher(job.credentialsFile, {
    emulated: flags.emulator ?? false,
    ...(emulator ? { transform: emulator.redirect } : {}),
    onReload: (next) => engine.updateCredentials(next),
    onInvalid: (error) => engine.emit('credentials:invalid', { message: error instanceof Error ? error.message : String(error) }),
  }).start();
  try {
    await syncItems(prepared, store, engine.runId);
    const stale = await findStaleItems(job, store);
    if (stale.length > 0 && flags.redoStale) {
      const names = job.steps.map((s) => s.name);
      for (const item of stale) store.resetSteps([item.id], names.slice(names.indexOf(item.fromStep)), ['done', 'failed', 'filtered']);
      line(io.stderr, `Redoing ${stale.length} stale item(s): their input row or templates changed since they were done.`);
    } else if (stale.length > 0) {
      line(io.stderr, `Note: ${stale.length} done item(s) are stale (input row or templates changed since); they are kept. Use --redo-stale to redo them.`);
    }
    attachRunReporter(engine, io);
    const summary = await engine.run();
    if (summary.message) line(io.stderr, `${summary.message}${summary.hint ? `\nhint: ${summary.hint}` : ''}`);
    if (flags.json) line(io.stdout, JSON.stringify(summary));
    return summary.exitCode;
  } finally {
    watcher.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    store.close();
    await emulator?.close();
  }
}
