/**
 * The Gemini Developer API paths the emulator serves, as `@google/genai` calls them with
 * `vertexai: false`: model methods, the Veo operation poll, and the download of a finished video.
 */
export type GeminiRoute =
  /** `POST /v1beta/models/{model}:{method}` */
  | { kind: 'model'; version: string; model: string; method: string }
  /** `GET /v1beta/models/{model}/operations/{id}` (ai.operations.getVideosOperation) */
  | { kind: 'operation'; version: string; model: string; name: string }
  /** `GET /v1beta/files/{id}:download?alt=media` (ai.files.download of a generated video) */
  | { kind: 'file'; version: string; id: string };

const MODEL_METHOD = /^\/(v1beta|v1|v1alpha)\/models\/([^/:]+):([A-Za-z]+)$/;
const OPERATION = /^\/(v1beta|v1|v1alpha)\/(models\/([^/:]+)\/operations\/([^/:]+))$/;
const FILE_DOWNLOAD = /^\/(v1beta|v1|v1alpha)\/files\/([^/:]+):download$/;

function decoded(parts: RegExpExecArray | null): string[] | undefined {
  if (!parts) return undefined;
  try {
    return parts.map((part) => decodeURIComponent(part));
  } catch {
    return undefined;
  }
}

export function matchGeminiPath(pathname: string): GeminiRoute | undefined {
  const model = decoded(MODEL_METHOD.exec(pathname));
  if (model) return { kind: 'model', version: model[1] ?? '', model: model[2] ?? '', method: model[3] ?? '' };
  const operation = decoded(OPERATION.exec(pathname));
  if (operation) return { kind: 'operation', version: operation[1] ?? '', name: operation[2] ?? '', model: operation[3] ?? '' };
  const file = decoded(FILE_DOWNLOAD.exec(pathname));
  if (file) return { kind: 'file', version: file[1] ?? '', id: file[2] ?? '' };
  return undefined;
}
