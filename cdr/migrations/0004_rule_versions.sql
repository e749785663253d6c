-- Every version of the hotline's rules that was asked for, applied or rolled back:
-- who, when, what (the whole validated document) and how it went.
-- The newest row whose status is 'applied' is what runs.
CREATE TABLE IF NOT EXISTS rule_versions (
    id          bigserial PRIMARY KEY,
    version     integer     NOT NULL,
    action      text        NOT NULL CHECK (action IN ('apply', 'rollback', 'start')),
    requested_by text       NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    source      text        NOT NULL DEFAULT '',
    document    jsonb       NOT NULL,
    diff        text        NOT NULL DEFAULT '',
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'failed')),
    applied_at  timestamptz,
    result      text        NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS rule_versions_status_id ON rule_versions (status, id DESC);
