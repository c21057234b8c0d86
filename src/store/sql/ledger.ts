/** The call ledger: intent before spend (an unsettled row at the worst case), then settled to what the call used. */

export const OPEN_CALL = `INSERT INTO ledger (run_id, item_id, step, project, model, http_status, input_tokens, output_tokens, thoughts_tokens, images, video_seconds,
    characters, cost_usd, duration_ms, at, reserved_usd, settled)
  VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?, ?, 0)`;

export const MARK_CALL_UNKNOWN = 'UPDATE ledger SET error_code = ?, duration_ms = ? WHERE id = ? AND settled = 0';

export const UNSETTLED_CALL_OF = 'SELECT id, reserved_usd AS usd, model FROM ledger WHERE settled = 0 AND item_id = ? AND step = ? ORDER BY id DESC LIMIT 1';

export const SETTLE_CALL = `UPDATE ledger SET project = @project, http_status = @httpStatus, error_code = @errorCode, input_tokens = @inputTokens,
    output_tokens = @outputTokens, thoughts_tokens = @thoughtsTokens, images = @images, video_seconds = @videoSeconds,
    characters = @characters, cached_tokens = @cachedTokens, traffic_type = @trafficType, counted_by_genbatch = @countedByGenbatch,
    cost_usd = @costUsd, duration_ms = @durationMs, settled = 1
  WHERE id = @id`;

export const INSERT_CALL = `INSERT INTO ledger (run_id, item_id, step, project, model, http_status, error_code, input_tokens, output_tokens, thoughts_tokens,
    images, video_seconds, characters, cached_tokens, traffic_type, counted_by_genbatch, cost_usd, duration_ms, at, cached)
  VALUES (@runId, @itemId, @step, @project, @model, @httpStatus, @errorCode, @inputTokens, @outputTokens, @thoughtsTokens,
    @images, @videoSeconds, @characters, @cachedTokens, @trafficType, @countedByGenbatch, @costUsd, @durationMs, @at, @cached)`;

export const REQUESTS_SINCE = 'SELECT count(*) AS n FROM ledger WHERE project = ? AND model = ? AND at >= ? AND context_cache IS NULL';

export const UNSETTLED_USD_SINCE = 'SELECT coalesce(sum(reserved_usd), 0) AS usd FROM ledger WHERE settled = 0 AND at >= ?';

export const SETTLED_USD_SINCE = 'SELECT coalesce(sum(cost_usd), 0) AS usd FROM ledger WHERE at >= ?';
