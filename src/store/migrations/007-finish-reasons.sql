-- genbatch state, version 7: finish reasons as data (issue 23).

-- Why the model stopped on the step's last reply, as Gemini says it (STOP, MAX_TOKENS, SAFETY,
-- RECITATION, OTHER…), or PROMPT_BLOCKED_<blockReason> for a refused prompt; NULL before any reply,
-- for models that give none (Imagen, Veo, embeddings) and for steps done before version 7.
ALTER TABLE item_steps ADD COLUMN finish_reason TEXT;
-- 1 when a done step kept a reply cut at max_output_tokens (the step says `on_truncated: keep`).
ALTER TABLE item_steps ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
