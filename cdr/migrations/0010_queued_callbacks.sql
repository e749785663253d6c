-- Queued callbacks that keep the caller's place (issue #12).
-- A caller offered a callback for a long expected wait who takes it (reason 'queued') hangs up and
-- keeps their place: the dialer places the first try at once in `queue` (not paced), with their
-- priority and starting tier, right behind the callers of `ahead` still waiting (uniqueids of the
-- callers ahead of them when they accepted; `queue_position` = their position then).
ALTER TABLE callbacks
    ADD COLUMN queue             text,
    ADD COLUMN queue_priority    integer NOT NULL DEFAULT 0,
    ADD COLUMN queue_max_penalty integer NOT NULL DEFAULT 0,
    ADD COLUMN queue_position    integer,
    ADD COLUMN ahead             text[] NOT NULL DEFAULT '{}';
-- reason: closed | queued | nobody_logged_in | followup | followup_needs_more_help
