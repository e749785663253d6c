-- Failed web logins, for the admin (issue 14, defect 3): who was tried, from where, when, why it failed.
-- One row per login whose name and password were checked and refused; a login refused before the
-- check (the client waits out its delay, web.security.LoginThrottle) is only logged, so a flood
-- of refused attempts writes nothing. Rows older than 90 days are pruned as new ones arrive.
CREATE TABLE login_failures (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    name        text        NOT NULL,   -- the name typed (at most 64 characters), existing or not
    user_id     bigint      REFERENCES web_users (id) ON DELETE SET NULL,  -- the account, when it exists
    address     text        NOT NULL,   -- the client's address as the server saw it
    reason      text        NOT NULL CHECK (reason IN ('unknown_name', 'bad_password', 'disabled')),
    client      text        NOT NULL CHECK (client IN ('form', 'api')),
    user_agent  text        NOT NULL DEFAULT ''
);
CREATE INDEX login_failures_at_idx ON login_failures (at);
CREATE INDEX login_failures_name_idx ON login_failures (name, at);
CREATE INDEX login_failures_address_idx ON login_failures (address, at);
