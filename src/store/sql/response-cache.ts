/** The response cache's file (cache.db): entries, their blobs, and the running totals the triggers keep. */

export const GET_ENTRY = 'SELECT id, result, vectors FROM entries WHERE key = ?';

/** Which keys of a JSON array have an entry: one statement for a page of keys (the estimate's look-up). */
export const PRESENT_KEYS = 'SELECT key FROM entries WHERE key IN (SELECT value FROM json_each(?))';
/** Keys per PRESENT_KEYS look-up. */
export const KEYS_PER_LOOKUP = 500;

export const ENTRY_BLOBS = 'SELECT sha FROM entry_blobs WHERE entry = ?';

export const TOUCH_ENTRY = 'UPDATE entries SET used_at = max(used_at, ?) WHERE key = ?';

export const COUNT_LOOKUPS = 'UPDATE totals SET hits = hits + ?, misses = misses + ? WHERE id = 1';

export const INSERT_ENTRY = 'INSERT INTO entries (key, model, task, result, vectors, bytes, created_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';

export const ADD_BLOB = 'INSERT OR IGNORE INTO blobs (sha, bytes) VALUES (?, ?)';

export const LINK_BLOB = 'INSERT OR IGNORE INTO entry_blobs (entry, sha) VALUES (?, ?)';

export const ENTRY_ID = 'SELECT id FROM entries WHERE key = ?';

export const DELETE_ENTRY = 'DELETE FROM entries WHERE id = ?';

export const ENTRIES_USING_BLOB = 'SELECT e.key FROM entry_blobs b JOIN entries e ON e.id = b.entry WHERE b.sha = ?';

export const DELETE_BLOB = 'DELETE FROM blobs WHERE sha = ?';

export const BLOB_IN_USE = 'SELECT 1 FROM entry_blobs WHERE sha = ? LIMIT 1';

export const LEAST_RECENTLY_USED = 'SELECT key FROM entries ORDER BY used_at, id LIMIT ?';

export const UNUSED_SINCE = 'SELECT key FROM entries WHERE used_at < ?';

export const BYTES_USED = 'SELECT entry_bytes + blob_bytes FROM totals WHERE id = 1';

export const TOTALS = 'SELECT entries, entry_bytes, blobs, blob_bytes, hits, misses FROM totals WHERE id = 1';

export const OLDEST_USE = 'SELECT min(used_at) FROM entries';

export const HAS_BLOB = 'SELECT 1 FROM blobs WHERE sha = ?';

export const CLEAR_ENTRIES = 'DELETE FROM entries';

export const CLEAR_BLOBS = 'DELETE FROM blobs';

export const CLEAR_ENTRY_BLOBS = 'DELETE FROM entry_blobs';

export const CLEAR_TOTALS = 'UPDATE totals SET entries = 0, entry_bytes = 0, blobs = 0, blob_bytes = 0, hits = 0, misses = 0 WHERE id = 1';

/** The tables of a response cache of schema 1 (created together, in an empty file). */
export const CACHE_SCHEMA = `
CREATE TABLE entries (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  task TEXT NOT NULL,
  result TEXT NOT NULL,
  vectors BLOB,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL
);
CREATE INDEX entries_by_use ON entries(used_at);
CREATE TABLE blobs (sha TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE entry_blobs (entry INTEGER NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (entry, sha)) WITHOUT ROWID;
CREATE INDEX entry_blobs_by_sha ON entry_blobs(sha);
CREATE TABLE totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  entries INTEGER NOT NULL, entry_bytes INTEGER NOT NULL,
  blobs INTEGER NOT NULL, blob_bytes INTEGER NOT NULL,
  hits INTEGER NOT NULL, misses INTEGER NOT NULL
);
INSERT INTO totals VALUES (1, 0, 0, 0, 0, 0, 0);
CREATE TRIGGER entry_added AFTER INSERT ON entries BEGIN
  UPDATE totals SET entries = entries + 1, entry_bytes = entry_bytes + NEW.bytes WHERE id = 1;
END;
CREATE TRIGGER entry_removed AFTER DELETE ON entries BEGIN
  UPDATE totals SET entries = entries - 1, entry_bytes = entry_bytes - OLD.bytes WHERE id = 1;
  DELETE FROM entry_blobs WHERE entry = OLD.id;
END;
CREATE TRIGGER blob_added AFTER INSERT ON blobs BEGIN
  UPDATE totals SET blobs = blobs + 1, blob_bytes = blob_bytes + NEW.bytes WHERE id = 1;
END;
CREATE TRIGGER blob_removed AFTER DELETE ON blobs BEGIN
  UPDATE totals SET blobs = blobs - 1, blob_bytes = blob_bytes - OLD.bytes WHERE id = 1;
END;
`;
