import type { EmulatedApi } from '../emulated-api.js';

/**
 * The emulator's running Veo operations, by name. Only the request's facts are kept; the bytes are
 * rebuilt (deterministically) when fetched.
 */
export interface VideoOperation {
  api: EmulatedApi;
  name: string;
  /** The last segment of `name`: Gemini API file ids of the videos are derived from it. */
  id: string;
  project: string;
  model: string;
  prompt: string;
  sampleCount: number;
  durationSeconds: number;
  storageUri: string | undefined;
  /** Veo 3 makes audio unless `generateAudio: false`; Veo 2 never does. */
  audio: boolean;
  /** The videos were written to `storageUri` (once, when the operation was first seen done). */
  stored?: boolean;
  blocked: boolean;
  doneAt: number;
}

export class VideoOperations {
  private operations = new Map<string, VideoOperation>();
  private byId = new Map<string, VideoOperation>();

  add(operation: VideoOperation): void {
    this.operations.set(operation.name, operation);
    this.byId.set(operation.id, operation);
  }

  get(name: string): VideoOperation | undefined {
    return this.operations.get(name);
  }

  getById(id: string): VideoOperation | undefined {
    return this.byId.get(id);
  }
}
