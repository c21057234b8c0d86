import { describe, expect, it } from 'vitest';
import { EmbeddingProvider } from '../../src/providers/embedding.js';
import { GeminiImageProvider } from '../../src/providers/gemini-image.js';
import { GeminiTextProvider } from '../../src/providers/gemini-text.js';
import { ImagenProvider } from '../../src/providers/imagen.js';
import { knownParams, providerFor } from '../../src/providers/provider-registry.js';
import { VeoProvider } from '../../src/providers/veo.js';

describe('providerFor', () => {
  it('picks the provider by task, and by model family for images', () => {
    expect(providerFor('text', 'gemini-2.5-flash')).toBeInstanceOf(GeminiTextProvider);
    expect(providerFor('image', 'gemini-2.5-flash-image')).toBeInstanceOf(GeminiImageProvider);
    expect(providerFor('image', 'imagen-4.0-fast-generate-001')).toBeInstanceOf(ImagenProvider);
    expect(providerFor('embedding', 'text-embedding-005')).toBeInstanceOf(EmbeddingProvider);
    expect(providerFor('video', 'veo-3.0-generate-001')).toBeInstanceOf(VeoProvider);
    expect(providerFor('image', 'imagen-3.0-generate-002').task).toBe('image');
  });

  it('lists the params each step accepts', () => {
    expect(knownParams('image', 'imagen-4.0-generate-001')).toContain('sample_count');
    expect(knownParams('image', 'gemini-2.5-flash-image')).toEqual(['aspect_ratio', 'image_size', 'seed']);
    expect(knownParams('embedding', 'text-embedding-005')).toContain('output_dimensionality');
  });
});
