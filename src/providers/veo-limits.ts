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
  /** Whether the model makes audio: Veo 3 does (and takes `generateAudio`), Veo 2 makes silent video. */
  audio: boolean;
}

const VEO_3: VeoLimits = { durationSeconds: [4, 6, 8], resolution: ['720p', '1080p'], aspectRatio: ['16:9', '9:16'], sampleCount: [1, 4], audio: true };
const VEO_2: VeoLimits = { durationSeconds: [5, 6, 7, 8], resolution: ['720p'], aspectRatio: ['16:9', '9:16'], sampleCount: [1, 4], audio: false };

export function veoLimits(model: string): VeoLimits {
  return model.startsWith('veo-2') ? VEO_2 : VEO_3;
}

/**
 * Whether a video step's clips have audio, so are priced with audio. Veo 3 models take `generateAudio`
 * (the Vertex reference lists it as required for them): genbatch always sends it, `true` unless the
 * step says `generate_audio: false`, so what is billed never rests on a server-side default.
 */
export function videoWithAudio(model: string, params: Record<string, unknown>): boolean {
  return veoLimits(model).audio && params.generate_audio !== false;
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
  if (!limits.audio && params.generate_audio === true)
    problems.push(['generate_audio', `${model} makes video without audio; remove generate_audio or use a Veo 3 model`]);
  const count = params.sample_count;
  const [min, max] = limits.sampleCount;
  if (count !== undefined && !(Number.isInteger(count) && (count as number) >= min && (count as number) <= max))
    problems.push(['sample_count', `${JSON.stringify(count)} is not accepted by ${model}; use a whole number from ${min} to ${max}`]);
  return problems;
}
