-- J+8 follow-ups and callback kinds (issue #12).
-- A row of `callbacks` is a call to place: a promised callback (kind 'callback', id = the
-- original call's linkedid, or 'mh-<linkedid>' for a follow-up that needed more help) or a
-- follow-up (kind 'followup', id 'fu-<linkedid>' of the answered inbound call it follows).
-- `origin`: the inbound call whose IVR answers the screen pop shows; `partner`: when set, the
-- try is offered to that partner's queue (partner-<id>) instead of the ranking queue of the
-- stored profile (a follow-up's partner, or a supervisor's reassignment).
ALTER TABLE callbacks
    ADD COLUMN kind             text NOT NULL DEFAULT 'callback'
        CONSTRAINT callbacks_kind_check CHECK (kind IN ('callback', 'followup')),
    ADD COLUMN origin           text,
    ADD COLUMN partner          text,
    ADD COLUMN followup_outcome text
        CONSTRAINT callbacks_followup_outcome_check
        CHECK (followup_outcome IN ('reached', 'satisfied', 'needs_more_help', 'wrong_number', 'refused')),
    ADD COLUMN outcome_by       text,
    ADD COLUMN outcome_at       timestamptz;
UPDATE callbacks SET origin = linkedid WHERE origin IS NULL;
CREATE INDEX callbacks_origin_idx ON callbacks (origin);
CREATE INDEX callbacks_kind_due_idx ON callbacks (kind, due_at);
