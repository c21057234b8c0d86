/**
 * Test order (vitest.config.ts `sequence.sequencer`): the longest files start first, so that the last
 * minute of `vitest run` is not one long file started late while the other workers sit idle.
 *
 * vitest orders files by the durations it cached from earlier runs; a clean clone (CI) has no cache, so
 * it falls back to file size, and a short file with long waits (state-file-lock.test.ts is 200 lines
 * and ran 88 s) started among the last. The files below took longest in `vitest run --reporter=json`
 * (session 6); they go first, in this order, the others after them in vitest's own order. A file
 * renamed or gone from the list only loses its place: nothing fails.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOW_FIRST = [
  'test/e2e/state-file-lock.test.ts',
  'test/quota/shared-quota.test.ts',
  'test/e2e/damaged-state.test.ts',
  'test/cli/demo.test.ts',
  'test/e2e/batch-prediction.test.ts',
  'test/contract/batch-output.test.ts',
  'test/cost/intent-ledger.test.ts',
  'test/cli/bad-input-corpus.test.ts',
  'test/cost/like-with-like.test.ts',
  'test/cost/lost-batch-output.test.ts',
  'test/e2e/broken-images.test.ts',
  'test/emulator/sampling.test.ts',
  'test/outputs/image-post.test.ts',
  'test/cli/spreadsheet-io.test.ts',
  'test/tasks/finish-reasons.test.ts',
  'test/cli/operations.test.ts',
  'test/cli/package.test.ts',
  'test/cli/fallback.test.ts',
  'test/cli/run-resume.test.ts',
  'test/e2e/batch-matching.test.ts',
  'test/cli/example-jobs.test.ts',
  'test/cost/cost-control.test.ts',
  'test/quota/shared-capacity.test.ts',
  'test/cli/response-cache.test.ts',
  'test/input/fuzz.test.ts',
  'test/cli/nightly-exit-codes.test.ts',
  'test/cli/review-serve-parity.test.ts',
  'test/cli/run-lock.test.ts',
  'test/e2e/wall-clock-step.test.ts',
  'test/e2e/no-spurious-failures.test.ts',
  'test/cli/thinking-examples.test.ts',
];

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);

    const rank = (spec: TestSpecification): number => {
      const path = spec.moduleId.replaceAll('\\', '/');
      const at = SLOW_FIRST.findIndex((file) => path.endsWith(`/${file}`));
      return at < 0 ? SLOW_FIRST.length : at;
    };
    // Array.prototype.sort is stable: files off the list keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
