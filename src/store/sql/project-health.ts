/** Project cooldowns and daily exhaustion kept across runs (rows keyed `project/model`). */

export const CLEAR_PROJECT_STATES = 'DELETE FROM project_state';

export const INSERT_PROJECT_STATE = 'INSERT INTO project_state (project, state, until_at, reason, updated_at) VALUES (?, ?, ?, ?, ?)';

export const PROJECT_STATES = 'SELECT project, state, until_at, reason FROM project_state';
