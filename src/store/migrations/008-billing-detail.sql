-- genbatch state, version 8: prices as billed (issue 23).

-- Input tokens served from a context cache (usageMetadata.cachedContentTokenCount): part of
-- input_tokens, priced at the model's cached-input price.
ALTER TABLE ledger ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
-- How Vertex served the call (usageMetadata.trafficType): ON_DEMAND, PROVISIONED_THROUGHPUT, flex or
-- priority kinds; NULL when the reply did not say. A PROVISIONED_THROUGHPUT call is prepaid: its
-- cost_usd is 0, and `genbatch cost` shows such calls apart.
ALTER TABLE ledger ADD COLUMN traffic_type TEXT;
-- 1 when the API reported no token counts and genbatch counted the input tokens itself (Gemini API
-- embeddings): cost_usd then rests on genbatch's count, not Google's.
ALTER TABLE ledger ADD COLUMN counted_by_genbatch INTEGER NOT NULL DEFAULT 0;
