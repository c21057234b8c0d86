/** A project's cooldown or daily exhaustion still in force, kept across runs. */
export interface SavedProjectState {
  project: string;
  model: string;
  state: 'cooling' | 'exhausted';
  until: number;
  reason: string;
}

/** The project health a run leaves for the next one. */
export interface ProjectHealth {
  /** Replaces the saved project health. */
  saveProjectStates(states: readonly { project: string; model: string; state: string; until: number; reason: string }[]): void;
  loadProjectStates(): SavedProjectState[];
}
