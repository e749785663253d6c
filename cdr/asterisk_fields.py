"""What the IVR, the fallback and the dialplan write into Asterisk's own CDR, for recovery.

Asterisk writes every CDR to cdr_custom's file whatever happens to the service, with
the CDR variables set on the caller's channel (``CDR(name)=value``; Asterisk copies
them to the channel's later CDRs). Set as each answer arrives, they let a call the
service never recorded (killed mid-menu, down, AMI link lost) be rebuilt with what
the caller said: ``cdr.recovery`` reads them back, ``aiguilleur.confgen`` lists them
in ``cdr_custom.conf`` and copies the dialplan's routing variables into them.
"""

from __future__ import annotations

HOTLINE_MARK = "aiguilleur"  # set to 1 by [hotline-in]: a call to the hotline
PREFIX = "aiguilleur_"

# The caller's answers (the IVR's step ids that have a column in the call record).
ANSWERS = ("need", "sector", "size", "departement")
# Copied from the AIGUILLEUR_<NAME> channel variables once the IVR or the fallback returns.
ROUTING = ("exit", "steps", "retries", "hours", "queue", "rule_version", "callback")
# The caller's number and name, base64 (BASE64_ENCODE in [hotline-in]): cdr_custom's JSON does
# not escape a quote after a backslash, so a hostile caller name in ``src``/``clid`` makes the
# whole line unreadable, and the call unrecoverable (seen on Asterisk 22). These stay JSON-safe.
CALLER_NUMBER, CALLER_NAME = "cid_num", "cid_name"


def cdr_variable(name: str) -> str:
    """The CDR variable holding ``name`` (one of ANSWERS, ROUTING, CALLER_NUMBER, CALLER_NAME)."""
    return f"{PREFIX}{name}"


def recorded_variables() -> tuple[str, ...]:
    """Every CDR variable of ours, in the order cdr_custom writes them."""
    return (HOTLINE_MARK, *(cdr_variable(n) for n in (*ANSWERS, *ROUTING, CALLER_NUMBER, CALLER_NAME)))
