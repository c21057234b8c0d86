-- genbatch state, version 2: outputs a person rejected in review (`genbatch reject`).
-- A rejected step stays `done` until `genbatch retry JOB --rejected` puts it back to pending.

ALTER TABLE item_steps ADD COLUMN rejected_at TEXT;     -- when it was rejected; NULL when not
ALTER TABLE item_steps ADD COLUMN rejected_note TEXT;   -- the reviewer's reason, if given

CREATE INDEX item_steps_rejected ON item_steps (item_id) WHERE rejected_at IS NOT NULL;

-- A rejection is about one output. Whenever the step's state changes (retried, redone, reset by any
-- command), the output it judged is gone, and so is the rejection: a redone step is never
-- redone again because of an old mark.
CREATE TRIGGER item_steps_clear_rejection
AFTER UPDATE OF state ON item_steps
WHEN NEW.rejected_at IS NOT NULL AND NEW.state IS NOT OLD.state
BEGIN
  UPDATE item_steps SET rejected_at = NULL, rejected_note = NULL WHERE item_id = NEW.item_id AND step = NEW.step;
END;
