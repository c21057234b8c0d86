-- genbatch state, version 10: batch output lost after Vertex billed it (issue 25). A finished job's
-- completionStats say how many lines Vertex billed; when fewer of them can be read (the output was
-- deleted, cut or garbled), the job records how many billed lines could not be read. Its items
-- without a line failed (BATCH_OUTPUT_UNREADABLE) at their worst case; status shows the count.

ALTER TABLE batch_jobs ADD COLUMN unreadable_lines INTEGER NOT NULL DEFAULT 0;
