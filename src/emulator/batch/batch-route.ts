import { matchResourcePath } from '../resource-path.js';

/**
 * Which `batchPredictionJobs` call a request is, from its path and method, as the SDK sends them:
 * `POST|GET /{v1,v1beta1}/projects/{p}/locations/{l}/batchPredictionJobs` (create, list),
 * `GET|DELETE …/batchPredictionJobs/{id}` and `POST …/batchPredictionJobs/{id}:cancel`.
 */
export type BatchAction = 'create' | 'list' | 'get' | 'delete' | 'cancel';

export interface BatchRoute {
  project: string;
  location: string;
  /** Undefined for create and list. */
  id: string | undefined;
  /** Undefined when the method does not fit the path (answered 404, as Vertex does). */
  action: BatchAction | undefined;
  method: string;
}

const BATCH_PATH = /^\/(?:v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/batchPredictionJobs(?:\/([^/:]+)(:cancel)?)?$/;

export function matchBatchPath(pathname: string, method: string): BatchRoute | undefined {
  const path = matchResourcePath(BATCH_PATH, pathname);
  if (!path) return undefined;
  const { project, location, id, match } = path;
  const cancel = match[4] !== undefined;
  let action: BatchAction | undefined;
  if (!id) action = method === 'POST' ? 'create' : method === 'GET' ? 'list' : undefined;
  else if (cancel) action = method === 'POST' ? 'cancel' : undefined;
  else action = method === 'GET' ? 'get' : method === 'DELETE' ? 'delete' : undefined;
  return { project, location, id: id || undefined, action, method };
}
