-- Calls an advisor transferred: how, where it was dialled, and where the caller went.
-- The record's queue, line, partner, wait, ring and talk stay those of the first answer;
-- these say what happened next (cdr.correlator). NULL: the call was not transferred.
ALTER TABLE cdr
    ADD COLUMN transfer_type    text,   -- blind | attended (AMI BlindTransfer / AttendedTransfer, Result Success)
    ADD COLUMN transfer_target  text,   -- what was dialled: exten@context, or the line of a transfer to a line's channel
    ADD COLUMN transfer_queue   text,   -- the queue the caller was transferred into, if any
    ADD COLUMN transfer_line    text,   -- the line that answered after the transfer (attended: the one consulted)
    ADD COLUMN transfer_partner text;
