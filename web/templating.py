"""The pages' one Jinja environment: templates in ``web/templates/``, every ``{{ value }}`` escaped.

Rules the templates rely on:

- Autoescape is on for every template, and ``finalize`` writes each printed value as
  ``html.escape(..., quote=True)`` spells it (``&quot;``, ``&#x27;``; markupsafe would write
  ``&#34;``, ``&#39;``): the pages' text stays byte for byte what the tests and the browser
  scripts compare with. ``None`` prints as nothing. Only ``Markup`` (a rendered template or
  macro, already escaped) passes through as is.
- A template's lines are joined without their newline and indentation (``OneLine``): the pages
  stay one line of HTML, as the browser scripts build the same fragments. A space needed
  between two lines is written ``{{ " " }}`` or kept inside one line.
- Undefined names fail the render (``StrictUndefined``): a misspelt field is an error, not a blank.
- ``tojson`` keeps non-ASCII text as is and the keys in their order (the menu's options are
  shown in that order); it escapes ``<``, ``>``, ``&`` and ``'`` so no value closes its element.
"""

from __future__ import annotations

import html
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup


class OneLine(Extension):
    """Joins a template's lines, each stripped of its indentation and trailing space."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return "".join(line.strip() for line in source.splitlines())


def _spell(value: object) -> object:
    """A printed value, escaped as ``html.escape`` spells it; ``None`` prints as nothing."""
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


ENV: Final = Environment(
    loader=PackageLoader("web", "templates"), autoescape=True, undefined=StrictUndefined, finalize=_spell,
    extensions=[OneLine], auto_reload=False,
)
ENV.policies["json.dumps_kwargs"] = {"ensure_ascii": False}


def render(template: str, /, **context: Any) -> str:
    """``template`` (a file under ``web/templates``) rendered with ``context``."""
    return ENV.get_template(template).render(**context)
