/** Looking at a file's tables: what a check or a fresh start (of a cache or coordination file) needs. */

/** Every table of the file. */
export const ALL_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'";

/** The file's own tables (not SQLite's). */
export const USER_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";

export const dropTableSql = (table: string): string => `DROP TABLE IF EXISTS "${table}"`;
