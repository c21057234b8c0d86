import { hash } from 'node:crypto';

/** Hash of an input row: tells a resume when the input changed under a done item. */
export function rowHash(values: Record<string, string>): string {
  return hashOfRowJson(JSON.stringify(values));
}

/** rowHash of a row already serialised with JSON.stringify (the state stores that text too). */
export function hashOfRowJson(json: string): string {
  return hash('sha256', json, 'hex').slice(0, 32);
}
