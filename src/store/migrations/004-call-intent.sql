-- genbatch state, version 4: intent before spend (issue 12). A call's ledger row is written, with
-- the most the call can cost, before the call is sent; it is settled to the real usage when the
-- reply arrives. A row left unsettled (the process was killed, the call timed out or its connection
-- was lost after sending) counts at that most: the ledger may over-state spend, never under-state it.

-- The worst case reserved for the call before it was sent.
ALTER TABLE ledger ADD COLUMN reserved_usd REAL NOT NULL DEFAULT 0;
-- 1 once the call's real usage is known (every row written before version 4 was).
ALTER TABLE ledger ADD COLUMN settled INTEGER NOT NULL DEFAULT 1;

-- Unsettled calls are few: summed before every run and by status without a scan of the ledger.
CREATE INDEX ledger_unsettled ON ledger (at, reserved_usd) WHERE settled = 0;
