"""The prompt catalogue: every prompt id the menu plays, with its French text.

Pure. Audio files are generated from this text (``ivr.prompt_audio``) and
installed under Asterisk's French sounds as ``aiguilleur/<id>``.
"""

from __future__ import annotations

from config.models import Menu
from ivr.machine import step_prompt

SOUNDS_SUBDIR = "aiguilleur"


def catalogue(menu: Menu) -> dict[str, str]:
    """Prompt id -> French text."""
    texts = {
        "welcome": menu.welcome,
        "closed": menu.closed,
        "invalid": menu.invalid,
        "no_input": menu.no_input,
        "goodbye": menu.goodbye,
        "to_advisor": menu.to_advisor,
    }
    for step in menu.steps:
        texts[step_prompt(step.id)] = step.prompt
    return texts


def sound_name(prompt_id: str) -> str:
    """The file name Asterisk plays (relative to its sounds dir, no extension)."""
    return f"{SOUNDS_SUBDIR}/{prompt_id}"
