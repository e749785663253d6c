"""The rule editor's checks: a hotline document validated field by field, and a readable diff. Pure.

``validate_document`` returns the model or the errors, each with the field's
path in the form the editor's inputs carry (``queues.escalation[1].after_seconds``,
``partners[2].skills.sector:crafts``), so the page shows each message next to its
field. The diff of two rule sets is ``routing.rules.diff_rules`` (partners and steps keyed by id).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from config.models import Hotline


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str


def field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def validate_document(data: object) -> tuple[Hotline | None, list[FieldError]]:
    if not isinstance(data, dict):
        return None, [FieldError("", "the rules must be a JSON object")]
    try:
        return Hotline.model_validate(data), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            errors.append(FieldError(field_path(loc), msg))
        return None, errors
