"""The call vocabulary: how a call ended, how it left the IVR, the UserEvent that says so.

One module every side imports (the IVR machine, the CDR correlator and recovery, the KPIs,
the simulator), so a renamed value is a type error, not silently broken records. Pure: no I/O.

``StrEnum`` members are ``str``: they compare equal to the text stored in the ``cdr`` table
and sent over AMI (``Outcome.ANSWERED == "answered"``), so rows read back as plain text
need no conversion.

The ``AIGUILLEUR_*`` channel variables are here too (``CallVar``); the stdio fallback script
runs under the PBX host's own python3 and cannot import this package, and the generated
dialplan is text: ``tests/unit/test_fallback_script.py`` checks the names both use.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a call ended: the ``cdr.outcome`` column."""

    ANSWERED = "answered"  # an advisor answered
    ABANDONED_IN_QUEUE = "abandoned_in_queue"  # the caller hung up while waiting in a queue
    TIMEOUT = "timeout"  # the queue's max wait expired without an answer
    ABANDONED_IN_IVR = "abandoned_in_ivr"  # hung up in the menu, never reached a queue
    CLOSED = "closed"  # called outside opening hours
    NO_INPUT = "no_input"  # the menu's first step never got a key
    INVALID = "invalid"  # the menu's first step never got a valid key
    LOST_BY_PBX = "lost_by_pbx"  # Asterisk itself cut the call: stopped or restarted under it


class IvrExit(StrEnum):
    """How a call left the IVR: the ``cdr.ivr_exit`` column, the UserEvent's ``Exit``."""

    COMPLETED = "completed"  # every step answered (or defaulted)
    SAME_PARTNER = "same_partner"  # a recent caller took the offer of the same partner
    ADVISOR = "advisor"  # the advisor digit
    CLOSED = "closed"  # outside opening hours
    NO_INPUT = "no_input"  # silent on the first step
    INVALID = "invalid"  # only wrong keys on the first step
    HANGUP = "hangup"  # hung up in the menu
    DEGRADED = "degraded"  # the service was down: the fallback script or the dialplan routed alone


# Offered to a queue: the calls the queue KPIs count.
QUEUE_OUTCOMES: frozenset[Outcome] = frozenset({Outcome.ANSWERED, Outcome.ABANDONED_IN_QUEUE, Outcome.TIMEOUT})
# IVR exits that end the call as an outcome of the same name (never queued).
ENDING_EXITS: frozenset[IvrExit] = frozenset({IvrExit.CLOSED, IvrExit.NO_INPUT, IvrExit.INVALID})
# Pranks or wrong numbers: excluded from every queue KPI (``cdr.kpi.KpiSettings.prank_exits``).
PRANK_EXITS: frozenset[str] = frozenset({IvrExit.NO_INPUT, IvrExit.INVALID})


def outcome_of(*, answered: bool, ivr_exit: str | None, queued: bool, timed_out: bool,
               cut_by_pbx: bool = False) -> Outcome:
    """A call's outcome from what is known at its end (live correlator and recovery alike).

    A call Asterisk itself cut (it stopped, restarted or died under it) is ``lost_by_pbx``, even
    when a line had answered: the record keeps the answer time and the line, and says the
    conversation did not end by anyone's choice. Then answered; then an IVR exit that ends the
    call (closed, no_input, invalid); then a queue timeout; a call that never joined a queue was
    lost in the IVR; else it was abandoned in queue.
    """
    if cut_by_pbx:
        return Outcome.LOST_BY_PBX
    if answered:
        return Outcome.ANSWERED
    if ivr_exit in ENDING_EXITS:
        return Outcome(ivr_exit)
    if timed_out:
        return Outcome.TIMEOUT
    if not queued:
        return Outcome.ABANDONED_IN_IVR
    return Outcome.ABANDONED_IN_QUEUE


# ``SoftHangupRequest``'s ``Cause`` is a bit set of channel.h's AST_SOFTHANGUP_* flags;
# AST_SOFTHANGUP_SHUTDOWN (1 << 2) is the one Asterisk sets on every channel as it stops.
SOFTHANGUP_SHUTDOWN = 1 << 2


# --- the channel variables the service sets for the dialplan ---------------------------------
class CallVar(StrEnum):
    """Channel variables set by the IVR (and the fallback script) or by a callback's Originate, read
    by the generated dialplan (``aiguilleur.confgen``) to queue the call and copied into Asterisk's
    own CDR. The fallback script runs under the PBX host's python3 and cannot import this module:
    a unit test checks that every name it and the generated dialplan use is one of these or a global.
    """

    ACTION = "AIGUILLEUR_ACTION"  # queue | hangup; the dialplan queues the call only when it says queue
    QUEUE = "AIGUILLEUR_QUEUE"
    PRIORITY = "AIGUILLEUR_PRIORITY"
    MAX_PENALTY = "AIGUILLEUR_MAX_PENALTY"  # the first tier of lines (QUEUE_MAX_PENALTY)
    RULE = "AIGUILLEUR_RULE"  # the queue rule (queuerules.conf) that widens the tiers
    TIMEOUT = "AIGUILLEUR_TIMEOUT"  # the caller's max wait in the queue
    RULE_VERSION = "AIGUILLEUR_RULE_VERSION"
    EXIT = "AIGUILLEUR_EXIT"  # an IvrExit
    HOURS = "AIGUILLEUR_HOURS"
    STEPS = "AIGUILLEUR_STEPS"
    RETRIES = "AIGUILLEUR_RETRIES"
    PARTNER = "AIGUILLEUR_PARTNER"  # a recent caller who took the same partner
    CALLBACK = "AIGUILLEUR_CALLBACK"  # "1": the caller asked to be called back
    NEED = "AIGUILLEUR_NEED"  # the menu's answers, one variable per step (``answer_var``)
    SECTOR = "AIGUILLEUR_SECTOR"
    SIZE = "AIGUILLEUR_SIZE"
    DEPARTEMENT = "AIGUILLEUR_DEPARTEMENT"
    CALLBACK_OF = "AIGUILLEUR_CALLBACK_OF"  # a callback try: the callback's id
    RING = "AIGUILLEUR_RING"  # a callback try: how long the caller's phone rings
    POSITION = "AIGUILLEUR_POSITION"  # a queued callback: the place kept (Queue()'s 9th argument)


def answer_var(step: str) -> str:
    """The channel variable of a menu step's answer (``need`` -> ``AIGUILLEUR_NEED``)."""
    return f"AIGUILLEUR_{step.upper()}"


# --- the AMI UserEvents the service sends and the correlator reads ----------------------------
IVR_USER_EVENT = "AiguilleurIvr"  # the IVR's (and the fallback's) answers and exit
CALLBACK_USER_EVENT = "AiguilleurCallback"  # a callback try's stored profile


class IvrField(StrEnum):
    """The fields of the ``AiguilleurIvr`` UserEvent (AMI header names)."""

    EXIT = "Exit"
    STEPS = "Steps"
    RETRIES = "Retries"
    HOURS = "Hours"
    NEED = "Need"
    SECTOR = "Sector"
    SIZE = "Size"
    DEPARTEMENT = "Departement"
    PARTNER = "Partner"
    QUEUE = "Queue"
    RULE_VERSION = "RuleVersion"
    CALLBACK = "Callback"
