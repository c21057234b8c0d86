import type { CoordinationTarget } from '../credentials/credentials.js';
import { GenbatchError } from '../errors/genbatch-error.js';
import type { Coordinator } from './coordinator.js';
import { LocalCoordinator } from './local-coordinator.js';
import { join } from 'node:path';
import { SPEND_JOURNAL_FILE, sharedDir, sharedFile } from './shared-dir.js';

/**
 * The coordinator for a credentials file: Redis when it names `coordination:`, else the shared file
 * of this host. The Redis client is loaded only then.
 */
export async function openCoordinator(target: CoordinationTarget | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Coordinator> {
  if (target) {
    const { RedisCoordinator } = await import('./redis-coordinator.js');
    // This host's record of what it booked in the shared budget, beside the shared file: what an empty Redis gets back.
    return new RedisCoordinator(target.url, target.display, { journalFile: join(sharedDir(env), SPEND_JOURNAL_FILE) });
  }
  const file = sharedFile(env);
  try {
    return new LocalCoordinator(file);
  } catch (error) {
    throw new GenbatchError(`Cannot open the file genbatch runs on this host share (${file}): ${(error as Error).message}.`, {
      code: 'SHARED_FILE',
      exitCode: 2,
      hint: 'Make its folder writable, or point GENBATCH_SHARED_DIR at a folder that is (runs share limits and budgets only with runs using the same folder).',
      cause: error,
    });
  }
}
