-- The advisor's wrap-up (issue 14, defect 5): the code picked from the partner's list
-- (config/hotline.yaml, partners[].wrapup_codes), the notes typed during and after the call, who
-- ended the wrap-up and when. Written by the web ("terminer le post-appel") on the record the
-- CDR writer made; the writer's upsert never touches these columns, so a replayed or corrected
-- record keeps them.
ALTER TABLE cdr
    ADD COLUMN wrapup_code     text CHECK (wrapup_code ~ '^[a-z][a-z0-9_]{0,31}$'),
    ADD COLUMN wrapup_notes    text CHECK (length(wrapup_notes) <= 4000),
    ADD COLUMN wrapup_by       text,
    ADD COLUMN wrapup_done_at  timestamptz;
