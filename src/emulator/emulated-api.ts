/**
 * Which Google API a call came in on: Vertex AI (`/v1beta1/projects/{p}/locations/{l}/publishers/google/models/…`,
 * OAuth or a key, the project in the path) or the Gemini Developer API (`/v1beta/models/…`, an AI
 * Studio key whose project the emulator derives). Both share handlers, quotas, faults and stats.
 */
export type EmulatedApi = 'vertex' | 'gemini';
