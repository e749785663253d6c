-- Callers who asked, while the line was closed, to be called back at the next opening.
CREATE TABLE callbacks (
    linkedid      text PRIMARY KEY,
    caller_number text NOT NULL,
    requested_at  timestamptz NOT NULL,
    due_at        timestamptz,             -- the next opening when the request was made
    status        text NOT NULL DEFAULT 'pending',  -- pending | done | failed
    done_at       timestamptz
);
CREATE INDEX callbacks_status_due_idx ON callbacks (status, due_at);
