/**
 * What Veo accepts, per model family, so a job asking for more (`resolution: 4k`) is refused by
 * `validate` with the allowed values instead of failing at Vertex after the run started.
 * Facts from the Vertex AI Veo reference (docs/video.md lists them).
 */
export interface VeoLimits {
  durationSeconds: readonly number[];
  resolution: readonly string[];
  aspectRatio: readonly string[];
  sampleCount: readonly [number, number];
}

const VEO_3: VeoLimits = { durationSeconds: [4, 6, 8], resolution: ['720p', '1080p'], aspectRatio: ['16:9', '9:16'], sampleCount: [1, 4] };
const VEO_2: VeoLimits = { durationSeconds: [5, 6, 7, 8], resolution: ['720p'], aspectRatio: ['16:9', '9:16'], sampleCount: [1, 4] };

export function veoLimits(model: string): VeoLimits {
  return model.startsWith('veo-2') ? VEO_2 : VEO_3;
}

/** Problems with a video step's params for this model: [param, message] pairs; empty when fine. */
export function videoParamProblems(model: string, params: Record<string, unknown>): [string, string][] {
  const limits = veoLimits(model);
  const problems: [string, string][] = [];
  const oneOf = (name: string, value: unknown, allowed: readonly (string | number)[]): void => {
    if (value !== undefined && !allowed.includes(value as string | number))
      problems.push([name, `${JSON.stringify(value)} is not accepted by ${model}; use one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`]);
  };
  oneOf('duration_seconds', params.duration_seconds, limits.durationSeconds);
  oneOf('resolution', params.resolution, limits.resolution);
  oneOf('aspect_ratio', params.aspect_ratio, limits.aspectRatio);
  const count = params.sample_count;
  const [min, max] = limits.sampleCount;
  if (count !== undefined && !(Number.isInteger(count) && (count as number) >= min && (count as number) <= max))
    problems.push(['sample_count', `${JSON.stringify(count)} is not accepted by ${model}; use a whole number from ${min} to ${max}`]);
  return problems;
}
