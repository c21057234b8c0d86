import { relative } from 'node:path';
import { displayPath } from '../../job/display-path.js';
import { initExample } from '../../job/examples.js';
import { line, type CliIO } from '../io.js';

/** `genbatch init EXAMPLE [DIR]`: an example job copied into DIR (default: here), ready to rehearse. */
export async function initCommand(name: string, dir: string | undefined, io: CliIO): Promise<number> {
  const copied = await initExample(name, dir ?? '.');
  const shown = (path: string): string => {
    const rel = relative(process.cwd(), path);
    return rel === '' ? 'the current folder' : displayPath(path);
  };
  if (copied.files.length === 0) line(io.stderr, `The example ${copied.name} is already in ${shown(copied.dir)}, unchanged; nothing was copied.`);
  else line(io.stderr, `Copied the example ${copied.name} into ${shown(copied.dir)}:`);
  for (const file of copied.files) line(io.stderr, `  ${file}`);
  line(io.stderr, `Its state will go to ${shown(copied.stateFile)}, its outputs to ${shown(copied.outputDir)}/.`);
  line(io.stderr, `Rehearse it offline (placeholder keys, nothing billed): genbatch run ${shown(copied.job)} --emulator`);
  return 0;
}
