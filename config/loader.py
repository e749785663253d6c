"""Read the hotline YAML once, at the edge, into validated models."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from config.models import Hotline

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """An invalid configuration file; the message names file, field and what is allowed."""

    code = "config_invalid"


def _field_path(loc: tuple[int | str, ...], data: object) -> str:
    """Render a pydantic location with names a person finds in the file (partners[2].skills)."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def parse_yaml_model(text: str, source: str, model: type[M]) -> M:
    """Validate YAML text as ``model``; ``source`` is the file name used in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {exc.error_count()} invalid field(s):"]
        for err in exc.errors(include_url=False):
            where = _field_path(tuple(err["loc"]), data)
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            lines.append(f"  - {where}: {err['msg']}{shown}")
        raise ConfigError("\n".join(lines)) from None


def parse_hotline(text: str, source: str) -> Hotline:
    """Validate hotline YAML text; ``source`` is the file name used in error messages."""
    return parse_yaml_model(text, source, Hotline)


def read_config_text(path: Path) -> str:
    """A configuration file's text, or a ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_hotline(path: Path) -> Hotline:
    """Load and validate the hotline file at ``path``."""
    return parse_hotline(read_config_text(path), str(path))
