-- Callbacks that are placed (issue #12, queues.callback / aiguilleur.callbacks).
-- The caller's IVR answers travel with the request, so the callback is routed like the call;
-- a try is claimed (SELECT ... FOR UPDATE SKIP LOCKED) by one service instance at a time and
-- refreshed while it runs; a claim not refreshed for claim_timeout_seconds is taken over.
ALTER TABLE callbacks
    ADD COLUMN need         text,
    ADD COLUMN sector       text,
    ADD COLUMN size         text,
    ADD COLUMN departement  text,
    ADD COLUMN reason       text,                    -- closed | long_wait | nobody_logged_in
    ADD COLUMN tries        integer NOT NULL DEFAULT 0,  -- tries that reached (or may have reached) the caller
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0,  -- tries placed (numbers try_channel), an advisor found or not
    ADD COLUMN last_result  text,                    -- answered | no_answer | busy | unavailable | advisor_hangup | no_advisor | lost
    ADD COLUMN next_try_at  timestamptz,             -- due from then on (within opening hours)
    ADD COLUMN claimed_by   text,                    -- the service instance placing the current try
    ADD COLUMN claimed_at   timestamptz,             -- refreshed while the try runs
    ADD COLUMN try_channel  text,                    -- the current/last try's originated channel (its linkedid)
    ADD COLUMN outcome      text,                    -- answered | '<result> after N tries' | why it was cancelled
    ADD COLUMN updated_at   timestamptz;
-- status: pending | dialling | connected | done | no_answer | failed | cancelled
UPDATE callbacks SET next_try_at = COALESCE(due_at, requested_at) WHERE next_try_at IS NULL;
CREATE INDEX callbacks_due_idx ON callbacks (next_try_at) WHERE status IN ('pending', 'no_answer');
CREATE INDEX callbacks_claimed_idx ON callbacks (claimed_at) WHERE status IN ('dialling', 'connected');

-- Each try of a callback leaves a call record: outbound, naming the original call.
ALTER TABLE cdr
    ADD COLUMN direction   text NOT NULL DEFAULT 'inbound',  -- inbound | outbound (a callback try)
    ADD COLUMN callback_of text;                             -- the original call's linkedid
