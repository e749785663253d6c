"""Rule versions in PostgreSQL: what an admin's request records, and what is refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from aiguilleur import rules
from cdr.migrate import migrate
from config.models import Hotline
from config.settings import Settings
from queues.advisors import AdvisorDesk
from queues.ami import AmiClient
from tests.conftest import drop_database, recreate_database

pytestmark = pytest.mark.db


def bumped(hotline: Hotline, version: int, **queue_edits: Any) -> Hotline:
    data = hotline.model_dump(mode="json")
    data["version"] = version
    data["queues"].update(queue_edits)
    return Hotline.model_validate(data)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    url = database_url.rpartition("/")[0] + f"/aiguilleur_rules_{os.getpid()}"
    await recreate_database(url)
    created = await asyncpg.create_pool(url, min_size=1, max_size=2)
    async with created.acquire() as conn:
        await migrate(conn)
    try:
        yield created
    finally:
        await created.close()
        await drop_database(url)


async def mark_applied(pool: asyncpg.Pool, request_id: int) -> None:
    await pool.execute("UPDATE rule_versions SET status = 'applied', applied_at = now() WHERE id = $1", request_id)


async def test_an_apply_request_records_who_what_and_the_diff_and_waits_for_the_service(
    pool: asyncpg.Pool, hotline: Hotline
) -> None:
    first = await rules.request_apply(pool, hotline, by="alice", source="config/hotline.yaml")
    await mark_applied(pool, first)
    newer = bumped(hotline, hotline.version + 1, ring_seconds=20)
    second = await rules.request_apply(pool, newer, by="bob", source="web")
    row = (await rules.history(pool))[0]
    assert (row.id, row.status, row.requested_by, row.version) == (second, "pending", "bob", newer.version)
    assert row.diff.splitlines() == [
        "~ queues.ring_seconds: 15 -> 20", f"~ version: {hotline.version} -> {newer.version}",
    ]
    assert row.hotline == newer
    with pytest.raises(TimeoutError, match="is the service running"):
        await rules.wait_outcome(pool, second, timeout=0.3)


async def test_apply_is_refused_without_a_version_bump_or_a_change(pool: asyncpg.Pool, hotline: Hotline) -> None:
    await mark_applied(pool, await rules.request_apply(pool, hotline, by="alice", source="f"))
    with pytest.raises(rules.RulesError, match="nothing to apply"):
        await rules.request_apply(pool, hotline, by="alice", source="f")
    with pytest.raises(rules.RulesError, match="must be above"):
        await rules.request_apply(pool, bumped(hotline, hotline.version, ring_seconds=20), by="alice", source="f")
    with pytest.raises(rules.RulesError, match="must be named"):
        await rules.request_apply(pool, bumped(hotline, hotline.version + 1), by=" ", source="f")


async def test_rollback_asks_for_the_previous_applied_version(pool: asyncpg.Pool, hotline: Hotline) -> None:
    with pytest.raises(rules.RulesError, match="nothing to roll back"):
        await rules.request_rollback(pool, by="alice")
    await mark_applied(pool, await rules.request_apply(pool, hotline, by="alice", source="f"))
    newer = bumped(hotline, hotline.version + 1, ring_seconds=25)
    await mark_applied(pool, await rules.request_apply(pool, newer, by="bob", source="f"))
    failed = bumped(hotline, hotline.version + 2, ring_seconds=30)
    await pool.execute("UPDATE rule_versions SET status = 'failed' WHERE id = $1",
                       await rules.request_apply(pool, failed, by="bob", source="f"))
    back = await rules.request_rollback(pool, by="carol")
    row = (await rules.history(pool))[0]
    assert (row.id, row.action, row.requested_by) == (back, "rollback", "carol")
    assert row.hotline == hotline  # the failed request is not "the previous version"
    assert "~ queues.ring_seconds: 25 -> 15" in row.diff.splitlines()


async def test_check_shows_the_diff_against_what_runs_and_why_it_would_be_refused(
    pool: asyncpg.Pool, hotline: Hotline
) -> None:
    fresh = await rules.check(pool, hotline)
    assert fresh.running is None and fresh.applicable
    await mark_applied(pool, await rules.request_apply(pool, hotline, by="alice", source="f"))
    data = hotline.model_dump(mode="json")
    data["version"] += 1
    data["partners"][0]["lines"] += 1
    result = await rules.check(pool, Hotline.model_validate(data))
    assert result.running is not None and result.running.version == hotline.version
    assert any("pjsip.conf" in problem for problem in result.problems)
    assert not result.applicable


# --- a service that cannot rewrite Asterisk's files (issue 14, defect 2) ----------------------------
def test_files_needed_names_what_asterisk_must_reload(hotline: Hotline) -> None:
    settings = Settings()
    assert rules.files_needed(hotline, bumped(hotline, hotline.version + 1, strategy="rrmemory"),
                              settings) == ["queues.conf"]
    assert rules.files_needed(hotline, bumped(hotline, hotline.version + 1, ring_seconds=20), settings) \
        == ["queues.conf"]
    closures = hotline.model_dump(mode="json")
    closures["version"] = hotline.version + 1
    closures["hours"]["closures"] = [{"start": "2026-12-24T12:00:00+01:00", "end": "2026-12-26T08:00:00+01:00",
                                      "reason": "Noël"}]
    assert rules.files_needed(hotline, Hotline.model_validate(closures), settings) == []  # read at each call


async def test_without_a_conf_dir_an_apply_that_needs_asterisks_files_fails_and_says_why(
    pool: asyncpg.Pool, hotline: Hotline
) -> None:
    """It used to be recorded 'applied' while Asterisk kept the old strategy."""
    settings = Settings()
    ami = AmiClient(settings.ami, on_event=lambda event: None)  # never started: nothing may reach Asterisk
    holder = rules.RulesHolder(hotline)
    engine = rules.RulesEngine(pool, ami, AdvisorDesk(ami, holder), holder, settings, "", conf_dirs=())
    first = await rules.request_apply(pool, hotline, by="ada", source="web")
    await mark_applied(pool, first)
    newer = bumped(hotline, hotline.version + 1, strategy="rrmemory")
    request = await rules.request_apply(pool, newer, by="ada", source="web")
    await engine.apply_pending()
    row = next(r for r in await rules.history(pool) if r.id == request)
    assert row.status == "failed"
    assert "must rewrite queues.conf" in row.result and "AIGUILLEUR_ASTERISK_ETC_DIRS" in row.result
    assert holder.hotline == hotline  # the IVR still runs the old version
    outcome = await rules.wait_outcome(pool, request, timeout=1)
    assert outcome.status == "failed"
