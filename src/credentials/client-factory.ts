import { GoogleGenAI, type GoogleGenAIOptions, type HttpOptions } from '@google/genai';
import { CredentialRejectedError } from '../errors/provider-errors.js';
import { httpFetch } from '../providers/http-fetch.js';
import type { ProjectCredentials } from './credentials.js';
import { keyFileProblem } from './key-file.js';

type AuthClient = NonNullable<NonNullable<GoogleGenAIOptions['googleAuthOptions']>['authClient']>;

/**
 * Stands in for a key file that cannot be used: every call of the project fails before anything is
 * sent, with a CredentialRejectedError, which disables the project (as a 403 does) rather than
 * failing its items as bad requests.
 */
function refusingAuthClient(error: CredentialRejectedError): AuthClient {
  return { getRequestHeaders: () => Promise.reject(error) } as unknown as AuthClient;
}

/**
 * The HTTP options of every client: the endpoint, when one is set (the emulator), and genbatch's
 * fetch over undici, which honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY (see http-fetch.ts).
 */
function httpOptionsOf(project: ProjectCredentials): HttpOptions {
  return { ...(project.endpoint ? { baseUrl: project.endpoint } : {}), fetch: httpFetch };
}

/**
 * One @google/genai client per project. SDK retries stay off: the engine owns retries, because the
 * SDK's own retry ignores Retry-After and would spend attempts on a project that is out of quota.
 */
export function createClient(project: ProjectCredentials): GoogleGenAI {
  if (project.api === 'gemini') {
    // The Gemini API (AI Studio): a key, no project or region. Loading checked it is an API key.
    const apiKey = project.auth.kind === 'api_key' ? project.auth.apiKey : '';
    return new GoogleGenAI({ vertexai: false, apiKey, httpOptions: httpOptionsOf(project) });
  }
  const options: GoogleGenAIOptions = {
    vertexai: true,
    project: project.project,
    location: project.location,
    httpOptions: httpOptionsOf(project),
  };
  switch (project.auth.kind) {
    case 'api_key':
      options.apiKey = project.auth.apiKey;
      break;
    case 'key_file': {
      // Checked when the run started too; this catches a key file replaced or damaged since.
      const problem = keyFileProblem(project.auth.keyFile);
      options.googleAuthOptions = problem
        ? {
            authClient: refusingAuthClient(new CredentialRejectedError(`The key file ${project.auth.keyFile} of project "${project.name}" ${problem}.`, {})),
          }
        : { keyFilename: project.auth.keyFile };
      break;
    }
    case 'adc':
      break;
  }
  return new GoogleGenAI(options);
}
