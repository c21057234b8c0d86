import type { EventEmitter } from 'node:events';
import type { SharedFigures } from '../coordination/run-coordination.js';
import type { EngineEvents, ProjectSnapshot } from '../engine/events.js';

/**
 * What the observers need from an engine: its typed events, its run id and, when it has them, its
 * projects' health. The Engine class is one; a plain EventEmitter<EngineEvents> is another.
 */
export type EngineEventSource = Pick<EventEmitter<EngineEvents>, 'on' | 'off'> & {
  readonly runId?: string;
  projects?: () => ProjectSnapshot[];
  /** What the run shares with other runs on its projects, when it coordinates with them. */
  shared?: () => SharedFigures | undefined;
};

export type EngineEventName = keyof EngineEvents;

/** Subscribes listeners and returns one function that removes them all. */
export function subscribe(source: EngineEventSource, listeners: { [K in EngineEventName]?: (...args: EngineEvents[K]) => void }): () => void {
  const added: [EngineEventName, (...args: never[]) => void][] = [];
  for (const [name, listener] of Object.entries(listeners) as [EngineEventName, (...args: never[]) => void][]) {
    if (!listener) continue;
    (source.on as (event: string, fn: (...args: never[]) => void) => unknown)(name, listener);
    added.push([name, listener]);
  }
  return () => {
    for (const [name, listener] of added) (source.off as (event: string, fn: (...args: never[]) => void) => unknown)(name, listener);
  };
}
