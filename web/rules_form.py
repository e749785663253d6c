"""The rule editor's checks: a hotline document validated field by field, and a readable diff. Pure.

``validate_document`` returns the model or the errors, each with the field's
path in the form the editor's inputs carry (``queues.escalation[1].after_seconds``,
``partners[2].skills.sector:crafts``), so the page shows each message next to its
field. ``fallback_diff`` is used only when ``routing.rules.diff_rules`` is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def fallback_diff(old: Hotline | None, new: Hotline) -> list[str]:
    """``path: old -> new`` for every leaf that differs (``+``/``-`` for added or removed)."""
    after = dict(_flatten(new.model_dump(mode="json")))
    if old is None:
        return [f"+ {path}: {value!r}" for path, value in after.items()]
    before = dict(_flatten(old.model_dump(mode="json")))
    lines = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            lines.append(f"- {path}: {before[path]!r}")
        elif path not in before:
            lines.append(f"+ {path}: {after[path]!r}")
        elif before[path] != after[path]:
            lines.append(f"~ {path}: {before[path]!r} -> {after[path]!r}")
    return lines
