import type { SharedWindows } from '../../src/coordination/coordinator.js';

/** Shared-capacity windows kept in memory, as a coordinator keeps them for the runs it serves (for fakes). */
export function memoryWindows(): SharedWindows {
  const states = new Map<string, string>();
  return {
    change: (key, change) => {
      const { state, result } = change(states.get(key));
      states.set(key, state);
      return Promise.resolve(result);
    },
    peek: (key) => states.get(key),
    all: () => Promise.resolve([...states].map(([key, state]) => ({ key, state }))),
  };
}
