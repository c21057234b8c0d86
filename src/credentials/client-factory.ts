import { GoogleGenAI, type GoogleGenAIOptions } from '@google/genai';
import type { ProjectCredentials } from './credentials.js';

/**
 * One @google/genai client per project. SDK retries stay off: the engine owns retries, because the
 * SDK's own retry ignores Retry-After and would spend attempts on a project that is out of quota.
 */
export function createClient(project: ProjectCredentials): GoogleGenAI {
  const options: GoogleGenAIOptions = {
    vertexai: true,
    project: project.project,
    location: project.location,
    httpOptions: project.endpoint ? { baseUrl: project.endpoint } : {},
  };
  switch (project.auth.kind) {
    case 'api_key':
      options.apiKey = project.auth.apiKey;
      break;
    case 'key_file':
      options.googleAuthOptions = { keyFilename: project.auth.keyFile };
      break;
    case 'adc':
      break;
  }
  return new GoogleGenAI(options);
}
