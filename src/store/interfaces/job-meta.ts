/** The state file's own records about its job: who owns it, what was synced, and the file's schema version. */
export interface JobMeta {
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  deleteMeta(key: string): void;
  /** The file's schema version (a read-only store is not migrated, so it may be older than this genbatch). */
  schemaVersion(): number;
}
