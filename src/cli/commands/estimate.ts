import { existsSync } from 'node:fs';
import { prepareJob } from '../../engine/prepare-job.js';
import { refuseInstalledExample } from '../../job/examples.js';
import { estimateJob } from '../../engine/estimate-job.js';
import { countingCachedAnswers, openCacheToLookUp } from '../../engine/cached-answers.js';
import { bestTokenCounter } from '../../estimate/token-counter.js';
import { createClient } from '../../credentials/client-factory.js';
import { openStateToRead } from '../../store/open-state.js';
import { confirmSpend } from '../confirm.js';
import { line, type CliIO } from '../io.js';
import { renderEstimate } from '../render-estimate.js';
import { openRunSession } from './run.js';
import { renderTemplate } from '../../job/template.js';
import { openInput } from '../../input/index.js';
import { inputOptionsOf } from '../../input/index.js';

/**
 * `genbatch estimate JOB [--json] [--pilot N [--yes]]`: cost and time before spending. With --pilot,
 * N items are done for real (they count as done) and the rest is re-estimated from what they cost;
 * a pilot estimated above budget.confirm_above_usd is confirmed first, as `run` does.
 */
export async function estimateCommand(
  jobFile: string,
  flags: { json?: boolean; pilot?: number; emulator?: boolean; yes?: boolean },
  io: CliIO,
): Promise<number> {
  // A pilot writes state and outputs: not inside the installed package (genbatch init copies an example out).
  if (flags.pilot) refuseInstalledExample(jobFile);
  const prepared = await prepareJob(jobFile, { emulated: flags.emulator ?? false });
  const { job } = prepared;
  if (flags.pilot) {
    const { session } = await openRunSession(prepared, { ...(flags.emulator ? { emulator: true } : {}) }, io);
    try {
      await session.sync();
      const pilotEstimate = await session.estimate(undefined, flags.pilot);
      const what = `a pilot of ${pilotEstimate.remaining_items} item(s)`;
      const hint = 'Pass --yes to allow it, raise budget.confirm_above_usd, or pilot fewer items.';
      if (!(await confirmSpend(pilotEstimate, { threshold: job.budget.confirmAboveUsd, yes: flags.yes, what, hint }, io))) {
        line(io.stderr, 'Cancelled; nothing was sent.');
        return 4;
      }
      line(io.stderr, `Pilot: running ${flags.pilot} item(s) for real to measure what the job costs.`);
      const pilot = await session.pilot(flags.pilot);
      if (pilot.exitCode !== 0) return pilot.exitCode;
      const estimate = await session.estimate(flags.pilot);
      if (flags.json) line(io.stdout, JSON.stringify(estimate, null, 2));
      else renderEstimate(estimate, io, io.stdout);
      return 0;
    } finally {
      await session.close();
    }
  }
  // Without a pilot nothing is spent: the free countTokens call on a sample calibrates the count.
  const sampleText = await firstPrompts(prepared, 20);
  const project = prepared.credentials.projects.find((p) => p.enabled);
  const client = project && (project.endpoint || !flags.emulator) ? safeClient(project) : undefined;
  const counter = await bestTokenCounter({ ...(client ? { client } : {}), sampleModel: job.steps[0]?.model ?? 'gemini-2.5-flash', sampleText });
  const store = existsSync(job.stateFile) ? openStateToRead(job.stateFile) : undefined;
  // Answers already in the response cache cost $0: looked up (not served) and left out of the figures.
  const cache = openCacheToLookUp(job);
  try {
    const estimate = await countingCachedAnswers(
      await estimateJob(prepared, { ...(store ? { store } : {}), counter, catalog: prepared.catalog, credentials: prepared.credentials }),
      prepared,
      { cache, ...(store ? { store } : {}), catalog: prepared.catalog },
    );
    if (flags.json) line(io.stdout, JSON.stringify(estimate, null, 2));
    else renderEstimate(estimate, io, io.stdout);
    return 0;
  } finally {
    cache?.close();
    store?.close();
  }
}

function safeClient(project: Parameters<typeof createClient>[0]): ReturnType<typeof createClient> | undefined {
  try {
    return createClient(project);
  } catch {
    return undefined;
  }
}

async function firstPrompts(prepared: Awaited<ReturnType<typeof prepareJob>>, n: number): Promise<string> {
  const { job } = prepared;
  const step = job.steps[0];
  if (!step) return '';
  const texts: string[] = [];
  const opened = await openInput(inputOptionsOf(job));
  for await (const record of opened.records()) {
    if (texts.length >= n) break;
    try {
      texts.push(renderTemplate(step.prompt, { columns: record.values, steps: {}, styles: job.styles }));
    } catch {
      // a prompt that needs another step's output is not a sample
    }
  }
  return texts.join('\n');
}
