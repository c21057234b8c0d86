import type sharpFactory from 'sharp';

let sharpModule: Promise<typeof sharpFactory> | undefined;

/**
 * sharp (libvips: some 30 MB of memory) is loaded with the first image, not with the engine: a run
 * of text or embedding steps never needs it.
 */
export function loadSharp(): Promise<typeof sharpFactory> {
  return (sharpModule ??= import('sharp').then((module) => module.default));
}
