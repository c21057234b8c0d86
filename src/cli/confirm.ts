import { createInterface } from 'node:readline/promises';
import type { CliIO } from './io.js';

/** Asks a yes/no question on the terminal; anything but y/yes is no. Only called with a TTY. */
export async function confirm(question: string, io: CliIO): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
