-- genbatch state, version 3: fast resume of big jobs (issue 11). A resume of a million-item job
-- must find its few items with work left, and the stale ones, without visiting every item.

-- 1 while the item has work a run can take: a pending or running step and no failed or filtered
-- step (a failed link stops its chain). Kept by the triggers below, whatever statement changes or
-- deletes a step; a new item is open (its steps are inserted pending).
ALTER TABLE items ADD COLUMN open INTEGER NOT NULL DEFAULT 1;
-- 1 when the item may be stale and must be judged again: its input row changed when the input was
-- synced, or the last check found it stale (a kept stale item is reported on every run).
ALTER TABLE items ADD COLUMN recheck INTEGER NOT NULL DEFAULT 0;

UPDATE items SET open = (
  EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = items.id AND s.state IN ('pending', 'running'))
  AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = items.id AND s.state IN ('failed', 'filtered')));

-- Small while little is left to do: the scheduler pages open items in input order from here.
CREATE INDEX items_open ON items (ord) WHERE open = 1;
CREATE INDEX items_recheck ON items (ord) WHERE recheck = 1;
-- Steps still to do, by item: counts and samples of what is left (estimates) without a full scan.
CREATE INDEX item_steps_unfinished ON item_steps (item_id) WHERE state IN ('pending', 'running');
-- Running steps (left by a dead run, recovered at the start of every run).
CREATE INDEX item_steps_running ON item_steps (item_id) WHERE state = 'running';
-- Failed and filtered steps: with the two above and `open`, items are counted by state (status, the
-- start and end of every run) without grouping a million step rows.
CREATE INDEX item_steps_blocked ON item_steps (item_id) WHERE state IN ('failed', 'filtered');
-- Spend in all and since a time, read several times before a run's first call: summed from a small
-- covering index instead of the ledger's rows (half the time over a million calls).
CREATE INDEX ledger_at_cost ON ledger (at, cost_usd);
DROP INDEX ledger_at;

-- Only a change between kinds of state can change `open` (pending -> running cannot).
CREATE TRIGGER item_steps_open_on_update
AFTER UPDATE OF state ON item_steps
WHEN (NEW.state IN ('pending', 'running')) IS NOT (OLD.state IN ('pending', 'running'))
  OR (NEW.state IN ('failed', 'filtered')) IS NOT (OLD.state IN ('failed', 'filtered'))
BEGIN
  UPDATE items SET open = NOT open
  WHERE id = NEW.item_id AND open IS NOT (
    EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = NEW.item_id AND s.state IN ('pending', 'running'))
    AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = NEW.item_id AND s.state IN ('failed', 'filtered')));
END;

-- Step rows are inserted only by StateStore.upsertItems, which keeps `open` itself (a trigger per
-- inserted row would slow the sync of a million items by a second).

CREATE TRIGGER item_steps_open_on_delete
AFTER DELETE ON item_steps
BEGIN
  UPDATE items SET open = NOT open
  WHERE id = OLD.item_id AND open IS NOT (
    EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = OLD.item_id AND s.state IN ('pending', 'running'))
    AND NOT EXISTS (SELECT 1 FROM item_steps s WHERE s.item_id = OLD.item_id AND s.state IN ('failed', 'filtered')));
END;
