/** The state file's own key-value records (owner, sync basis, the run lock). */

export const GET_META = 'SELECT value FROM meta WHERE key = ?';

export const SET_META = 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value';

export const DELETE_META = 'DELETE FROM meta WHERE key = ?';
