-- The audit log reads the event log filtered by actor, action, prompt and environment, and
-- joins each change to the previous change of the same subject (the state before it). These
-- keys are derived from each event by promptreg_core::audit when it is appended; events
-- appended before this migration are indexed by the server at start-up (subject IS NULL).
ALTER TABLE event_log ADD COLUMN actor TEXT;
ALTER TABLE event_log ADD COLUMN action TEXT;
ALTER TABLE event_log ADD COLUMN prompt TEXT;
ALTER TABLE event_log ADD COLUMN env TEXT;
ALTER TABLE event_log ADD COLUMN subject TEXT;

CREATE INDEX event_log_subject ON event_log (project, subject, seq);
CREATE INDEX event_log_prompt ON event_log (project, prompt, seq);
CREATE INDEX event_log_actor ON event_log (project, actor, seq);
CREATE INDEX event_log_unindexed ON event_log (project, seq) WHERE subject IS NULL;
