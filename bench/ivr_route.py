"""The production IVR route (default hotline, menu machine, router) for the FastAGI bench."""

from __future__ import annotations

import datetime as dt

from config.loader import load_hotline
from config.settings import REPO_ROOT
from ivr.agi_route import make_route

# A Monday 10:00 in Paris: the line is open, so every session walks the whole menu.
_OPEN = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

route = make_route(load_hotline(REPO_ROOT / "config" / "hotline.yaml"), lambda: _OPEN)
