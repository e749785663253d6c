"""Admins manage the web accounts in the browser's pages (create, role, line, disable, reset the
password), every action in the audit journal; served by the real app over the real PostgreSQL."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.web.conftest import PASSWORD, WebStack, api_token

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]


async def login(url: str, name: str, password: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}/api/login", json={"name": name, "password": password, "client": "api"}) as response:
        return response.status


def shown_password(page: str) -> str:
    found = re.search(r'id="temporary-password">.*?<code>([^<]+)</code>', page)
    assert found, page[-2000:]
    return found.group(1)


async def test_an_admin_creates_changes_disables_and_resets_an_account(web_stack: WebStack) -> None:
    url, ada = web_stack.url, web_stack.bearer("ada")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/utilisateurs", headers=ada,
                             data={"name": "zoe", "role": "advisor", "line": "cci-02"}) as r:
            page = await r.text()
        assert r.status == 200 and "Compte zoe créé." in page
        first = shown_password(page)
        assert await login(url, "zoe", first) == 200
        zoe = {"Authorization": f"Bearer {await api_token(url, 'zoe', first)}"}

        async with http.post(f"{url}/utilisateurs/zoe", headers=ada,
                             data={"role": "supervisor", "line": "", "state": "active"}) as r:
            assert r.status == 200 and "rôle conseiller → superviseur" in await r.text()
        async with http.get(f"{url}/api/me", headers=zoe) as r:
            assert r.status == 401  # rights changed: the open session is closed
        assert (await web_stack.pool.fetchrow("SELECT role, line FROM web_users WHERE name = 'zoe'"))["role"] \
            == "supervisor"

        async with http.post(f"{url}/utilisateurs/zoe", headers=ada,
                             data={"role": "supervisor", "line": "", "state": "disabled"}) as r:
            assert r.status == 200
        assert await login(url, "zoe", first) == 401

        async with http.post(f"{url}/utilisateurs/zoe", headers=ada,
                             data={"role": "supervisor", "line": "", "state": "active"}) as r:
            assert r.status == 200
        async with http.post(f"{url}/utilisateurs/zoe/mot-de-passe", headers=ada) as r:
            second = shown_password(await r.text())
        assert second != first and await login(url, "zoe", first) == 401 and await login(url, "zoe", second) == 200

        async with http.get(f"{url}/utilisateurs", headers=ada) as r:
            journal = await r.text()
    actions = [row["action"] for row in await web_stack.pool.fetch(
        "SELECT action FROM web_audit WHERE target = 'zoe' AND actor = 'ada' ORDER BY id")]
    assert actions == ["user_created", "user_changed", "user_disabled", "user_enabled", "password_reset"]
    assert 'id="audit"' in journal and "compte désactivé" in journal and "mot de passe réinitialisé" in journal
    assert first not in journal and second not in journal  # a password is shown once, never journaled


@pytest.mark.parametrize(("form", "says"), [
    ({"name": "Zoé", "role": "advisor", "line": "cci-02"}, "identifiant : 2 à 32 caractères"),
    ({"name": "yann", "role": "boss", "line": ""}, "rôle : un de conseiller, superviseur, administrateur"),
    ({"name": "yann", "role": "advisor", "line": ""}, "un conseiller a une ligne"),
    ({"name": "yann", "role": "advisor", "line": "xyz-99"}, "ligne : une ligne de la hotline"),
    ({"name": "ada", "role": "admin", "line": ""}, "Un compte « ada » existe déjà."),
])
async def test_a_bad_account_is_refused_in_french_naming_the_field(
    web_stack: WebStack, form: dict[str, str], says: str
) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{web_stack.url}/utilisateurs", headers=web_stack.bearer("ada"), data=form) as r:
        page = await r.text()
    assert r.status in (400, 409) and says in page.replace("&#x27;", "'")
    assert not await web_stack.pool.fetchval("SELECT count(*) FROM web_users WHERE name = 'yann'")


async def test_an_admin_cannot_lock_themselves_out(web_stack: WebStack) -> None:
    async with aiohttp.ClientSession() as http:
        for change in ({"role": "admin", "line": "", "state": "disabled"},
                       {"role": "supervisor", "line": "", "state": "active"}):
            async with http.post(f"{web_stack.url}/utilisateurs/ada", headers=web_stack.bearer("ada"),
                                 data=change) as r:
                assert r.status == 400 and "votre propre compte" in await r.text()
    row = await web_stack.pool.fetchrow("SELECT role, disabled FROM web_users WHERE name = 'ada'")
    assert (row["role"], row["disabled"]) == ("admin", False)


@pytest.mark.parametrize("who", ["sam", "alice"])
async def test_only_admins_manage_accounts(web_stack: WebStack, who: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web_stack.url}/utilisateurs", headers=web_stack.bearer(who)) as r:
            assert r.status == 403
        async with http.post(f"{web_stack.url}/utilisateurs/alice/mot-de-passe", headers=web_stack.bearer(who)) as r:
            assert r.status == 403
    assert await login(web_stack.url, "alice", PASSWORD) == 200
