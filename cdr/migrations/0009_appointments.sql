-- Appointments booked from the advisor page (issue #12, "Brochure and appointment").
-- One row per booked slot: the unique (office_id, starts_at) makes a double booking
-- impossible whatever the number of service instances; the loser of a race gets a
-- unique violation, mapped to "slot_taken".
CREATE TABLE appointments (
    id           bigserial PRIMARY KEY,
    partner_id   text        NOT NULL,
    office_id    text        NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL CHECK (ends_at > starts_at),
    linkedid     text,                    -- the call the booking was made in (cdr.linkedid)
    caller_email text        NOT NULL,
    postcode     text        NOT NULL,
    commune_code text,                    -- INSEE code of the caller's commune
    booked_by    text        NOT NULL,    -- web user
    booked_at    timestamptz NOT NULL DEFAULT now(),
    email_sent_at timestamptz,
    email_error  text,
    CONSTRAINT appointments_slot_unique UNIQUE (office_id, starts_at)
);
CREATE INDEX appointments_linkedid_idx ON appointments (linkedid);
