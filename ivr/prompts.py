"""The prompt catalogue: every prompt id the menu plays, with its French text.

Pure. Audio files are generated from this text (``ivr.prompt_audio``) and
installed under Asterisk's French sounds as ``aiguilleur/<id>``.
"""

from __future__ import annotations

import datetime as dt

from config.models import Hotline
from ivr.machine import repeat_prompt, step_prompt

SOUNDS_SUBDIR = "aiguilleur"


def catalogue(hotline: Hotline) -> dict[str, str]:
    """Prompt id -> French text."""
    menu = hotline.menu
    texts = {
        "welcome": menu.welcome,
        "closed": menu.closed,
        "invalid": menu.invalid,
        "no_input": menu.no_input,
        "goodbye": menu.goodbye,
        "to_advisor": menu.to_advisor,
        "next_opening": menu.next_opening,
        "callback_offer": menu.callback_offer,
        "callback_recorded": menu.callback_recorded,
        "long_wait_offer": menu.long_wait_offer,
        "nobody_available": menu.nobody_available,
        "queued_callback_offer": menu.queued_callback_offer,
        "queued_callback_recorded": menu.queued_callback_recorded,
    }
    for step in menu.steps:
        texts[step_prompt(step.id)] = step.prompt
    for partner in hotline.partners:
        texts[repeat_prompt(partner.id)] = menu.repeat_offer.format(partner=partner.spoken_name or partner.name)
    return texts


def say_datetime_format(at: dt.datetime) -> str:
    """Asterisk SAY DATETIME format in French: "lundi 24 novembre à 8 heures [30]"."""
    hour = "'digits/at' H 'digits/oclock'"
    return f"Ad B {hour}" + (" M" if at.minute else "")


def sound_name(prompt_id: str) -> str:
    """The file name Asterisk plays (relative to its sounds dir, no extension)."""
    return f"{SOUNDS_SUBDIR}/{prompt_id}"
