/**
 * The publisher models the emulator answers, by exact name, as Vertex does: any other name is a 404
 * NOT_FOUND ("Publisher Model … was not found or your project does not have access to it"), never a
 * reply priced like a near name. The emulator's own list, not genbatch's price catalog (a model
 * Google serves is served here whether or not genbatch prices it). From the Vertex model pages
 * (Gemini 2.5 / 2.0, Imagen 3 / 4, Veo 2 / 3, text embeddings), checked December 2026.
 */
export const VERTEX_MODELS: ReadonlySet<string> = new Set([
  'gemini-2.5-pro',
  'gemini-2.5-flash',
  'gemini-2.5-flash-lite',
  'gemini-2.5-flash-image',
  'gemini-2.0-flash',
  'gemini-2.0-flash-001',
  'gemini-2.0-flash-lite',
  'gemini-2.0-flash-lite-001',
  'imagen-4.0-generate-001',
  'imagen-4.0-fast-generate-001',
  'imagen-4.0-ultra-generate-001',
  'imagen-3.0-generate-002',
  'imagen-3.0-generate-001',
  'imagen-3.0-fast-generate-001',
  'veo-2.0-generate-001',
  'veo-3.0-generate-001',
  'veo-3.0-fast-generate-001',
  'gemini-embedding-001',
  'text-embedding-005',
  'text-multilingual-embedding-002',
]);

/** The models the Gemini API (AI Studio keys) answers here; others get its own 404. */
export const GEMINI_API_MODELS: ReadonlySet<string> = new Set([
  'gemini-2.5-pro',
  'gemini-2.5-flash',
  'gemini-2.5-flash-lite',
  'gemini-2.5-flash-image',
  'gemini-2.0-flash',
  'gemini-2.0-flash-001',
  'gemini-2.0-flash-lite',
  'gemini-2.0-flash-lite-001',
  'gemini-embedding-001',
  'imagen-4.0-generate-001',
  'imagen-4.0-fast-generate-001',
  'imagen-4.0-ultra-generate-001',
  'veo-2.0-generate-001',
  'veo-3.0-generate-001',
  'veo-3.0-fast-generate-001',
]);
