-- Issue 14: who did what in the web's administration. One row per action an admin took on
-- the accounts (created, role or line changed, disabled, enabled, password reset); read on
-- the "Utilisateurs" page. Never updated, never deleted by the application.
CREATE TABLE web_audit (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,          -- the web user who acted
    action  text        NOT NULL,          -- user_created | user_changed | user_disabled | user_enabled | password_reset
    target  text        NOT NULL,          -- the account acted on
    detail  text        NOT NULL DEFAULT '' -- what changed, in words (never a password)
);
CREATE INDEX web_audit_at_idx ON web_audit (at DESC);
