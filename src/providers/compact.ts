/** Drops undefined fields, so SDK config objects only carry what the step actually sets. */
export function compact<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}
