import { constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors/config-error.js';
import { displayPath } from './display-path.js';
import { loadJob } from './load-job.js';

/** genbatch's own folder: dist/job/examples.js (or src/job/examples.ts) is two levels down. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES_DIR = join(PACKAGE_ROOT, 'jobs');
const SCHEMA_FILE = join(PACKAGE_ROOT, 'docs', 'job.schema.json');

const realOrSelf = (path: string): string => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};

/** The example jobs shipped in jobs/, by name (the file name without .yaml). */
export function exampleNames(): string[] {
  if (!existsSync(EXAMPLES_DIR)) return [];
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/**
 * Whether genbatch runs from an installed package (global, npx, a project's dependency) rather than
 * a clone: only then is its folder no place for a job's state and outputs (an update or reinstall
 * deletes them, and a global one is often not writable). From a clone, `npm run demo` writes beside the examples.
 */
function installedRoot(): string | undefined {
  const root = realOrSelf(PACKAGE_ROOT);
  return root.split(sep).includes('node_modules') ? root : undefined;
}

/**
 * A job file inside the installed package is refused before anything is written: its state
 * (`.genbatch/` beside it) and outputs (`../out/`) would land inside the package. The hint copies the
 * example into the current folder with `genbatch init NAME`.
 */
export function refuseInstalledExample(jobFile: string): void {
  const root = installedRoot();
  if (root === undefined) return;
  const file = realOrSelf(resolve(jobFile));
  const inside = relative(root, file);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return;
  const name = basename(file).replace(/\.(ya?ml|json)$/i, '');
  const known = exampleNames().includes(name) && dirname(file) === join(root, 'jobs');
  throw new ConfigError(
    `${displayPath(jobFile)} is inside the installed genbatch package (${root}): a run would write its state and outputs there, where the next update or reinstall deletes them.`,
    {
      file: jobFile,
      code: 'JOB_IN_PACKAGE',
      hint: known
        ? `Copy the example into this folder, then run the copy: genbatch init ${name} && genbatch run jobs/${name}.yaml --emulator`
        : `Copy the job file (and what it names) into a folder of yours and run it from there; \`genbatch init NAME\` copies an example (${exampleNames().join(', ')}).`,
    },
  );
}

export interface InitResult {
  name: string;
  /** Where the files went. */
  dir: string;
  /** The copied files, relative to `dir`, the job file first. */
  files: string[];
  /** The copy's job file, its output folder and its state file (absolute). */
  job: string;
  outputDir: string;
  stateFile: string;
}

/**
 * `genbatch init NAME [DIR]`: copies an example job and the files it names (its input, the emulator
 * credentials) into DIR, in the same layout as in the package (jobs/NAME.yaml, jobs/data/…,
 * fixtures/…), so the job file's relative paths hold unchanged and its state and outputs go under DIR.
 * Nothing is overwritten: if any of the files exists with other content, none is copied (exit 2).
 */
export async function initExample(nameOrFile: string, dir: string): Promise<InitResult> {
  const name = basename(nameOrFile).replace(/\.ya?ml$/i, '');
  const names = exampleNames();
  if (!names.includes(name))
    throw new ConfigError(`There is no example named "${nameOrFile}".`, {
      code: 'EXAMPLE_UNKNOWN',
      hint: `The examples: ${names.join(', ')}. For instance: genbatch init ${names.includes('blog-hero-images') ? 'blog-hero-images' : (names[0] ?? 'NAME')}`,
    });
  const job = await loadJob(join(EXAMPLES_DIR, `${name}.yaml`));
  // The examples name the JSON schema their editor checks them against (`$schema=../docs/job.schema.json`):
  // it comes along, so completion and checking work in the copy.
  const schema = existsSync(SCHEMA_FILE) && readFileSync(job.file, 'utf8').includes('$schema=../docs/job.schema.json') ? [SCHEMA_FILE] : [];
  const needed = [job.file, job.input.file, job.credentialsFile, ...schema];
  const wanted = [...new Set(needed.map((f) => relative(PACKAGE_ROOT, f)))].filter((f) => !f.startsWith('..') && !isAbsolute(f));
  const target = resolve(dir);
  // A file already there with the package's very bytes (the emulator credentials or the schema, shared
  // by the examples) is kept: two examples can be copied into one folder. Any other is a clash.
  const same = (f: string): boolean => readFileSync(join(target, f)).equals(readFileSync(join(PACKAGE_ROOT, f)));
  const taken = wanted.filter((f) => existsSync(join(target, f)) && !same(f));
  if (taken.length > 0)
    throw new ConfigError(`${taken.map((f) => displayPath(join(target, f))).join(', ')} already exist${taken.length === 1 ? 's' : ''}; nothing was copied.`, {
      code: 'INIT_WOULD_OVERWRITE',
      hint: `Run the copy you have (genbatch run ${displayPath(join(target, wanted[0] ?? ''))} --emulator), or give another folder: genbatch init ${name} DIR`,
    });
  const files = wanted.filter((f) => !existsSync(join(target, f)));
  for (const f of files) {
    mkdirSync(dirname(join(target, f)), { recursive: true });
    copyFileSync(join(PACKAGE_ROOT, f), join(target, f), constants.COPYFILE_EXCL);
  }
  const moved = (path: string): string => join(target, relative(PACKAGE_ROOT, path));
  return { name, dir: target, files, job: moved(job.file), outputDir: moved(job.outputDir), stateFile: moved(job.stateFile) };
}
