-- Issue 13: the service follows several Asterisk nodes. A linkedid (and a queue_log callid)
-- is an Asterisk uniqueid, "<epoch>.<sequence>": unique on one node only (two nodes started in
-- the same second hand out the same ones). Every record names its node, and the key that keeps
-- writes idempotent becomes (node, linkedid). Rows written before this migration came from the
-- one node the service followed, the default node "a" (config.settings.AmiNodeSettings).
ALTER TABLE cdr ADD COLUMN node text NOT NULL DEFAULT 'a';
ALTER TABLE cdr DROP CONSTRAINT cdr_pkey;
ALTER TABLE cdr ADD CONSTRAINT cdr_pkey PRIMARY KEY (node, linkedid);
-- Lookups by linkedid alone (the web's wrap-up, callbacks' origin) keep an index.
CREATE INDEX cdr_linkedid_idx ON cdr (linkedid);

ALTER TABLE queue_log ADD COLUMN node text NOT NULL DEFAULT 'a';
ALTER TABLE queue_log DROP CONSTRAINT queue_log_natural_key;
ALTER TABLE queue_log ADD CONSTRAINT queue_log_natural_key UNIQUE (node, callid, time, event, queuename, agent);
