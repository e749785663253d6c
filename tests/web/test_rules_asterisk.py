"""The rule editor's preview says what reaches Asterisk (issue 14, defect 2), on the real app and PostgreSQL.

A ``serve`` with no Asterisk conf dir used to preview and apply a strategy change as if Asterisk
would get it; the engine now refuses such an apply (tests/db/test_rule_versions.py) and the
preview says so before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from aiguilleur.rules import files_needed
from config.models import Hotline
from config.settings import Settings
from tests.web.conftest import WebStack

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def stack(web_stack: WebStack) -> AsyncIterator[WebStack]:
    settings = Settings()
    saved = web_stack.deps.asterisk_files, web_stack.deps.asterisk_conf_dirs
    web_stack.deps.asterisk_files = lambda running, proposed: files_needed(running, proposed, settings)
    try:
        yield web_stack
    finally:
        web_stack.deps.asterisk_files, web_stack.deps.asterisk_conf_dirs = saved


async def preview(stack: WebStack, hotline: Hotline, **queue_edits: Any) -> dict[str, Any]:
    document = hotline.model_dump(mode="json")
    document["version"] = hotline.version + 1
    document["queues"].update(queue_edits)
    if not queue_edits:
        document["hours"]["closures"] = [{"start": "2026-12-24T12:00:00+01:00", "end": "2026-12-26T08:00:00+01:00",
                                          "reason": "Noël"}]
    async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/api/rules/preview", json={"document": document}, headers=stack.bearer("ada")) as r:
        assert r.status == 200
        answer: dict[str, Any] = await r.json()
        return answer


async def test_without_a_conf_dir_a_strategy_change_is_shown_as_refused(stack: WebStack, hotline: Hotline) -> None:
    stack.deps.asterisk_conf_dirs = ()
    checked = await preview(stack, hotline, strategy="rrmemory")
    assert checked["asterisk"]["files"] == ["queues.conf"] and checked["asterisk"]["rewritable"] is False
    assert not checked["valid"]
    assert any("aucun dossier de configuration d'Asterisk" in e["message"] and "queues.conf" in e["message"]
               for e in checked["errors"])


async def test_with_a_conf_dir_the_preview_names_the_files_rewritten(stack: WebStack, hotline: Hotline,
                                                                      tmp_path: Path) -> None:
    stack.deps.asterisk_conf_dirs = (tmp_path,)
    checked = await preview(stack, hotline, ring_seconds=20)
    assert checked["valid"] and checked["asterisk"]["rewritable"] is True
    assert checked["asterisk"]["message"].startswith("Asterisk : queues.conf réécrit(s) puis rechargé(s)")


async def test_a_change_asterisk_does_not_read_needs_no_conf_dir(stack: WebStack, hotline: Hotline) -> None:
    stack.deps.asterisk_conf_dirs = ()
    checked = await preview(stack, hotline)  # a closure: the IVR reads it at each call
    assert checked["valid"] and checked["asterisk"]["files"] == []
    assert checked["asterisk"]["message"].startswith("Aucun fichier d'Asterisk concerné")


async def test_the_rules_page_has_a_place_for_what_reaches_asterisk(stack: WebStack) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{stack.url}/rules", headers=stack.bearer("ada")) as r:
        assert r.status == 200
        assert '<p id="asterisk-effect" role="status"></p>' in await r.text()
