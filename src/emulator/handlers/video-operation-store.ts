/**
 * The emulator's running Veo operations, by name. Only the request's facts are kept; the bytes are
 * rebuilt (deterministically) when fetched.
 */
export interface VideoOperation {
  name: string;
  project: string;
  model: string;
  prompt: string;
  sampleCount: number;
  durationSeconds: number;
  storageUri: string | undefined;
  blocked: boolean;
  doneAt: number;
}

export class VideoOperations {
  private operations = new Map<string, VideoOperation>();

  add(operation: VideoOperation): void {
    this.operations.set(operation.name, operation);
  }

  get(name: string): VideoOperation | undefined {
    return this.operations.get(name);
  }
}
