-- queue_log in Asterisk's realtime layout, and the CDR columns issue 5 adds.
--
-- queue_log: the columns of Asterisk's own realtime table (contrib/ast-db-manage
-- "create queue_log table": id, time, callid, queuename, agent, event,
-- data1..data5) plus `data`, the non-adaptive realtime column holding the whole
-- `data1|data2|...` string as Asterisk's queue_log file writes it, so tools reading
-- either layout work. Choices, and why:
--   * `time` is timestamptz with microseconds, from the AMI event's Timestamp
--     (ast-db-manage uses a timestamp without zone; reporting tools that want an
--     epoch read `extract(epoch from time)`). Rows recovered from Asterisk's
--     queue_log file have whole seconds (the file's precision).
--   * data1..data5 are NOT NULL DEFAULT '' (Asterisk writes empty strings, never NULL).
--   * a replayed row never duplicates: the natural key (callid, time, event,
--     queuename, agent) is unique; two different queue events of one call, same
--     verb, same member, same microsecond do not happen.
CREATE TABLE queue_log (
    id          bigserial PRIMARY KEY,
    time        timestamptz NOT NULL,
    callid      text NOT NULL DEFAULT 'NONE',   -- the caller channel's uniqueid, or NONE/MANAGER for member events
    queuename   text NOT NULL DEFAULT 'NONE',
    agent       text NOT NULL DEFAULT 'NONE',   -- the member name (log_membername_as_agent=yes), NONE for caller events
    event       text NOT NULL,                  -- ENTERQUEUE, CONNECT, COMPLETECALLER, ABANDON, ...
    data1       text NOT NULL DEFAULT '',
    data2       text NOT NULL DEFAULT '',
    data3       text NOT NULL DEFAULT '',
    data4       text NOT NULL DEFAULT '',
    data5       text NOT NULL DEFAULT '',
    data        text GENERATED ALWAYS AS (
                    rtrim(data1 || '|' || data2 || '|' || data3 || '|' || data4 || '|' || data5, '|')
                ) STORED,
    recovered   boolean NOT NULL DEFAULT false, -- read back from Asterisk's queue_log file after an outage
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queue_log_natural_key UNIQUE (callid, time, event, queuename, agent)
);
CREATE INDEX queue_log_time_idx ON queue_log (time);
CREATE INDEX queue_log_queue_time_idx ON queue_log (queuename, time);
CREATE INDEX queue_log_agent_time_idx ON queue_log (agent, time);
CREATE INDEX queue_log_event_idx ON queue_log (event);

-- The CDR columns 0001 lacks.
ALTER TABLE cdr
    ADD COLUMN ring_seconds       integer,                          -- the answering line rang this long (AgentConnect RingTime)
    ADD COLUMN wrapup_seconds     integer,                          -- wrap-up the answering member had after this call (its Wrapuptime)
    ADD COLUMN escalation_step    integer,                          -- 0 = first pool; n = the n-th widening of queuerules was reached while waiting
    ADD COLUMN abandon_position   integer,                          -- position in queue when the caller hung up (QueueCallerAbandon Position)
    ADD COLUMN callback_requested boolean NOT NULL DEFAULT false,   -- the caller asked to be called back
    ADD COLUMN recovered          boolean NOT NULL DEFAULT false;   -- rebuilt from Asterisk's own records (service was down)
