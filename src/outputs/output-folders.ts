import { readFileSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Job } from '../job/job.js';

/** The record, in the job's scratch folder: one folder per line. */
const FILE = 'output-folders';

/**
 * The folders a job's runs write into, recorded once each (not once per file) in the job's scratch
 * folder. A run after one that was killed reads each of them once for leftover temp files, instead
 * of walking the whole output tree (which may hold a million files).
 */
export class OutputFolders {
  private known: Promise<Set<string>> | undefined;

  constructor(private readonly scratchDir: string) {}

  private load(): Promise<Set<string>> {
    return (this.known ??= readFile(join(this.scratchDir, FILE), 'utf8').then(
      (text) => new Set(text.split('\n').filter(Boolean)),
      () => new Set<string>(),
    ));
  }

  /** Records a folder (appending one line, the first time it is seen). */
  async add(folder: string): Promise<void> {
    const known = await this.load();
    if (known.has(folder)) return;
    known.add(folder);
    await mkdir(this.scratchDir, { recursive: true });
    await appendFile(join(this.scratchDir, FILE), `${folder}\n`);
  }
}

/** The folder part of an output name before its first `{{` (`images/{{slug}}.png` → `images`), if inside the output folder. */
function staticFolder(outputDir: string, template: string): string | undefined {
  const fixed = template.split('{{')[0] ?? '';
  const folder = resolve(outputDir, fixed.slice(0, fixed.lastIndexOf('/') + 1));
  const rel = relative(outputDir, folder);
  return rel.startsWith('..') || isAbsolute(rel) ? undefined : folder;
}

/**
 * Every folder where a run of `job` may have left temp files: those recorded by its writers, and
 * those the job file names (the output folder, the static part of each output name, the results
 * file's and the state file's folders), which covers runs of versions that kept no record.
 */
export function jobWriteFolders(job: Job, scratchDir: string): string[] {
  const folders = new Set<string>([job.outputDir, dirname(job.stateFile)]);
  if (job.resultsFile) folders.add(dirname(job.resultsFile));
  for (const step of job.steps) {
    if (!step.output) continue;
    for (const template of [step.output.file, step.output.npy]) {
      const folder = template === undefined ? undefined : staticFolder(job.outputDir, template);
      if (folder) folders.add(folder);
    }
  }
  try {
    for (const line of readFileSync(join(scratchDir, FILE), 'utf8').split('\n')) if (line) folders.add(line);
  } catch {
    // No record yet.
  }
  return [...folders];
}
