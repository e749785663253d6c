-- One row per call, keyed by the caller channel's linkedid.
-- Columns named as Asterisk's `cdr` table where they mean the same thing,
-- then the IVR, routing and queue fields of the hotline.
CREATE TABLE cdr (
    linkedid      text PRIMARY KEY,
    uniqueid      text NOT NULL,
    src           text NOT NULL DEFAULT '',
    clid          text NOT NULL DEFAULT '',
    dst           text NOT NULL DEFAULT '',
    channel       text NOT NULL DEFAULT '',
    dstchannel    text NOT NULL DEFAULT '',
    start         timestamptz NOT NULL,
    answer        timestamptz,            -- when an advisor answered (not the IVR's Answer())
    "end"         timestamptz NOT NULL,
    duration      integer NOT NULL,       -- seconds, start to end
    billsec       integer NOT NULL,       -- seconds, advisor answer to end
    disposition   text NOT NULL,          -- ANSWERED | NO ANSWER
    need          text,
    sector        text,
    size          text,
    departement   text,
    ivr_exit      text,                   -- completed | advisor | closed | no_input | invalid | hangup | degraded
    ivr_steps     integer,
    ivr_retries   integer,
    hours_state   text,
    queue         text,
    rule_version  integer,
    line          text,                   -- the answering partner line
    partner       text,
    wait_seconds  integer,                -- in queue until answered or abandoned
    talk_seconds  integer,
    outcome       text NOT NULL,          -- answered | abandoned_in_queue | abandoned_in_ivr | timeout | closed | no_input | invalid | degraded_unanswered
    degraded      boolean NOT NULL DEFAULT false,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cdr_start_idx ON cdr (start);
CREATE INDEX cdr_src_start_idx ON cdr (src, start);
