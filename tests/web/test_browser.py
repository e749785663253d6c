"""A real browser (Debian's chromium, headless, driven by playwright) on the real stack.

Sandbox Asterisk 22 + SIPp callers and softphone + the service (IVR, AMI follower,
rules engine, web) + PostgreSQL. A supervisor watches the wallboard change when a
real call enters a queue; the advisor of the line it rings sees the caller's
profile pop; an admin edits a rule, sees the error next to the field, fixes it,
previews the diff and the routing effect, tests a profile and applies it. Screenshots go to var/test-artifacts/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, expect

from config.models import Hotline
from config.settings import Settings, SmtpSettings
from sandbox.pbx import SandboxPbx
from sandbox.sipp import AgentsUas, CallScript, run_calls
from tests.pbx.real_stack import RunningStack, running_pbx, running_service, sandbox_settings
from tests.unit.test_appointment_mail import Inbox, parse, smtp_inbox_on
from tests.web.conftest import ARTIFACTS, PASSWORD, free_tcp_port
from web import store
from web.passwords import hash_password

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

HOSTILE_NAME = "<script>alert(1)</script>"
CALLER = "0320555001"
SMTP_PORT = free_tcp_port()  # the service's SMTP server: aiosmtpd (smtp_inbox)


@dataclass
class Stack(RunningStack):
    url: str


@pytest.fixture(scope="module")
def pbx_and_lines(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, SandboxPbx]]:
    settings = sandbox_settings(
        tmp_path_factory.mktemp("web-e2e"),
        f"aiguilleur_webe2e_{os.getpid()}",
        now="2026-11-23T10:00:00+01:00",  # a fixed open instant
        rtp_start=33000,
        ami={"ping_interval": 1, "pong_timeout": 10},
        web=True,
        smtp=SmtpSettings(port=SMTP_PORT, sender="numero-unique@example.org", timeout=5),
    )
    assert settings.pbx.line_contact_port is not None
    # The advisor's softphone rings 5 s before answering: long enough to watch "ringing" on the pages.
    agents = AgentsUas(settings.pbx.line_contact_port, ring_ms=5000, talk_ms=5000)
    with running_pbx(settings, hotline, f"web-{os.getpid()}", agents) as pbx:
        yield settings, pbx


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(pbx_and_lines: tuple[Settings, SandboxPbx], hotline: Hotline) -> AsyncIterator[Stack]:
    settings, pbx = pbx_and_lines
    # where a rules apply rewrites queues.conf, queuerules.conf and extensions.conf for this Asterisk
    settings = settings.model_copy(update={"asterisk_etc_dirs": [pbx.instance_dir / "etc"]})
    async with running_service(settings, hotline, asterisk_log_dir=pbx.instance_dir / "log") as service:
        assert service.web is not None, "the web app did not start"
        hashed = await asyncio.to_thread(hash_password, PASSWORD)
        for name, role, line in (("sam", "supervisor", None), ("alice", "advisor", "cma-01"),
                                 ("ada", "admin", None)):
            await store.add_user(service.pool, name, role, line, hashed)
        yield Stack(settings, service, hotline, service.web.url)


@pytest.fixture(scope="module")
def smtp_inbox() -> Iterator[Inbox]:
    with smtp_inbox_on(SMTP_PORT) as inbox:
        yield inbox


class Watched:
    """A page whose console errors (a CSP violation, a script error) and dialogs (an alert) are recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda msg: self.problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.problems.append(str(exc)))
        page.on("dialog", lambda dialog: self.problems.append(f"dialog: {dialog.message}"))


async def logged_in(browser: Browser, stack: Stack, name: str, path: str) -> tuple[BrowserContext, Watched]:
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    watched = Watched(page)
    await page.goto(f"{stack.url}{path}")
    await expect(page).to_have_url(f"{stack.url}/login?next={path}")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page).to_have_url(f"{stack.url}{path}")
    return context, watched


async def shot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def test_wallboard_changes_and_the_advisor_page_pops_the_caller_of_a_real_call(
    stack: Stack, browser: Browser
) -> None:
    # Only cma-01 is logged in: the crafts caller rings alice's line.
    await stack.service.desk.login("cma-01")
    await stack.service.pool.execute(
        """INSERT INTO cdr (linkedid, uniqueid, src, start, "end", duration, billsec, disposition, outcome,
                            partner, line, need, sector)
           VALUES ('earlier.1', 'earlier.1', $1, $2::timestamptz, $2::timestamptz + interval '2 minutes',
                   120, 90, 'ANSWERED', 'answered', 'cma', 'cma-04', 'creation', 'crafts')""",
        CALLER, dt.datetime.now(dt.UTC) - dt.timedelta(days=20))
    wall_ctx, wall = await logged_in(browser, stack, "sam", "/wallboard")
    advisor_ctx, advisor = await logged_in(browser, stack, "alice", "/advisor")
    try:
        crafts_waiting = wall.page.locator('tr[data-queue="rank-cma-cci"] td.waiting')
        await expect(wall.page.locator('li.line[data-line="cma-01"]')).to_have_class("line st-available")
        await expect(advisor.page.locator("#no-call")).to_be_visible()
        await shot(wall.page, "wallboard-before-call")

        call = asyncio.create_task(asyncio.to_thread(
            run_calls, [CallScript(digits=["2", "2", "2", "59"], caller_number=CALLER, caller_name=HOSTILE_NAME,
                                   hold_after_ms=14000)],
            port=stack.settings.pbx.sip_port, number=stack.hotline.number, timeout_s=90))
        # The caller answers the menu (~12 s), joins rank-cma-cci and cma-01 rings for 5 s.
        await expect(crafts_waiting).to_have_text("1", timeout=40_000)
        await expect(wall.page.locator('tr[data-queue="rank-cma-cci"] .callers .name')).to_have_text(HOSTILE_NAME)
        await expect(wall.page.locator("#total-waiting")).to_have_text("1")
        await shot(wall.page, "wallboard-caller-waiting")

        caller = advisor.page.locator("#caller")
        await expect(caller).to_be_visible(timeout=10_000)
        await expect(caller).to_have_class("caller ringing")
        await expect(advisor.page.locator("#caller-number")).to_have_text(CALLER)
        await expect(advisor.page.locator("#caller-clid")).to_contain_text(HOSTILE_NAME)
        answers = advisor.page.locator("#answers")
        for label in ("entreprise en difficulté", "artisanat", "1 à 9 salariés", "Nord"):
            await expect(answers).to_contain_text(label)
        await expect(advisor.page.locator("#earlier-count")).to_have_text("1")
        memo = advisor.page.locator("#memo")
        await expect(memo).to_contain_text("Artisans : interlocuteur CMA")
        await expect(memo).to_contain_text("Chômage partiel")
        await expect(memo).not_to_contain_text("Créer ou reprendre une entreprise")
        await shot(advisor.page, "advisor-ringing")

        await expect(caller).to_have_class("caller connected", timeout=10_000)
        await expect(wall.page.locator('li.line[data-line="cma-01"]')).to_have_class("line st-busy")
        await expect(wall.page.locator("#total-waiting")).to_have_text("0")
        # Nobody waits there any more and no call of today is recorded yet: the ranking queue's
        # row leaves the wall screen, counted with the other idle ones.
        await expect(wall.page.locator('tr[data-queue="rank-cma-cci"]')).to_have_count(0)
        await expect(wall.page.locator("#idle-queues")).to_contain_text("files de profil sans appel")
        await shot(wall.page, "wallboard-line-busy")
        await shot(advisor.page, "advisor-connected")

        # The advisor pauses from the page (the real AdvisorDesk over AMI); the wallboard shows the reason.
        await call
        await advisor.page.select_option("#pause-reason", "repas")
        await advisor.page.click('button[data-action="pause"]')
        await expect(advisor.page.locator("#action-result")).to_have_text("Fait.")
        line = wall.page.locator('li.line[data-line="cma-01"]')
        await expect(line).to_have_class("line st-paused", timeout=10_000)
        await expect(line.locator(".reason")).to_have_text("repas")
        await shot(wall.page, "wallboard-paused-with-reason")
        await advisor.page.click('button[data-action="unpause"]')
        await expect(line).not_to_have_class("line st-paused", timeout=10_000)
        assert not wall.problems and not advisor.problems, (wall.problems, advisor.problems)
    finally:
        await wall_ctx.close()
        await advisor_ctx.close()


async def test_admin_edits_a_rule_sees_the_field_error_previews_and_applies(stack: Stack, browser: Browser) -> None:
    context, admin = await logged_in(browser, stack, "ada", "/rules")
    page = admin.page
    try:
        running = stack.service.rules.hotline
        after = page.locator('table[data-list="queues.escalation"] tbody tr').nth(1).locator(
            'input[data-field="after_seconds"]')
        await expect(after).to_have_value(str(running.queues.escalation[1].after_seconds))
        await after.fill("-5")
        await page.click("#preview")
        error = page.locator('[data-error-for="queues.escalation[1].after_seconds"]')
        await expect(error).to_be_visible()
        await expect(page.locator("#apply")).to_be_disabled()
        await shot(page, "rules-field-error")

        # A skill change previewed (not applied): the Nord craftsmen move from CMA to MEL.
        mel = next(i for i, p in enumerate(running.partners) if p.id == "mel")
        skills = {key: page.locator(f'input[data-path="partners[{mel}].skills.{key}"]')
                  for key in ("sector:crafts", "size:micro")}
        await skills["sector:crafts"].fill("5")
        await skills["size:micro"].fill("4")
        await after.fill("45")
        await page.click("#preview")
        await expect(error).to_have_count(0)
        effect = page.locator("#routing-effect")
        await expect(effect.locator("h2")).to_have_text("Effet sur l'acheminement")
        await expect(page.locator("#routing-summary")).to_contain_text("profils changent de premier partenaire")
        craftsmen = page.locator("#routing-changes tbody tr").filter(
            has_text="création ou reprise d'entreprise · artisanat · 1 à 9 salariés · Nord")
        await expect(craftsmen.locator("td").nth(1)).to_contain_text("CMA")
        await expect(craftsmen.locator("td").nth(2)).to_contain_text("MEL")
        await shot(page, "rules-routing-effect")
        # Tester un profil, on the rules of the form (escalation edited to 45 s)
        for question, value in (("need", "difficulty"), ("sector", "industry"), ("size", "large"),
                                ("departement", "oise")):
            await page.select_option(f"#route-{question}", value)
        await page.click("#route-test-run")
        await expect(page.locator("#route-test-queue")).to_contain_text("rank-region-direccte")
        first = page.locator('#route-test-result tr[data-partner="region"] td')
        await expect(first).to_have_text(["Région / HDFID", "13", "1"])
        await expect(page.locator("#route-test-rings")).to_contain_text(
            "Sonne d'abord Région / HDFID, puis DIRECCTE après 45 s")
        await shot(page, "rules-route-test")
        for box in skills.values():  # back to the running skills: only the escalation is applied
            await box.fill("")
        await page.click("#preview")
        await expect(page.locator("#routing-summary")).to_contain_text("Aucun profil ne change")
        await expect(page.locator("#diff")).to_contain_text("45")
        await expect(page.locator("#asterisk-effect")).to_contain_text("queuerules.conf réécrit(s) puis rechargé(s)")
        await expect(page.locator("#apply")).to_be_enabled()
        await shot(page, "rules-preview-diff")
        await page.click("#apply")
        await expect(page.locator("#apply-result")).to_contain_text("appliquée", timeout=20_000)
        assert stack.service.rules.hotline.queues.escalation[1].after_seconds == 45
        queuerules = (stack.settings.asterisk_etc_dirs[0] / "queuerules.conf").read_text(encoding="utf-8")
        assert "penaltychange=>45,+1" in queuerules.replace(" ", "")  # what Asterisk reloaded has the new step
        assert stack.service.rules.hotline.version == running.version + 1
        await page.wait_for_load_state("load")
        await expect(page.locator("#rules-version")).to_have_text(str(running.version + 1), timeout=10_000)
        await expect(page.locator("#history")).to_contain_text("ada")
        await shot(page, "rules-applied")

        await page.click("#rollback")
        await expect(page.locator("#apply-result")).to_contain_text("appliquée", timeout=20_000)
        await expect(page.locator("#history")).to_contain_text("retour en arrière", timeout=10_000)
        restored = stack.service.rules.hotline.queues.escalation[1]
        assert restored.after_seconds == running.queues.escalation[1].after_seconds
        await shot(page, "rules-rolled-back")
        assert not admin.problems, admin.problems
    finally:
        await context.close()


async def test_advisor_books_the_nearest_office_on_a_phone_sized_page(
        stack: Stack, browser: Browser, smtp_inbox: Inbox) -> None:
    """390 px wide: postcode, commune, e-mail, nearest office, first free slot, Réserver; the mail arrives."""
    context, advisor = await logged_in(browser, stack, "alice", "/advisor")
    try:
        page = advisor.page
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.get_by_label("Code postal de l'appelant").fill("62000")
        commune = page.get_by_label("Commune", exact=True)
        await expect(commune.locator("option")).to_have_text(["Choisissez la commune", "Arras", "Dainville"])
        await commune.select_option(label="Arras")
        office = page.get_by_label("Bureau le plus proche")
        await expect(office.locator("option").first).to_have_text(
            "CMA Hauts-de-France, Pas-de-Calais — Arras (dans la commune, à 0,0 km)")
        await expect(page.locator("#rdv-address")).to_have_text(
            "Centre Jean Monnet, avenue de Paris, 62000 Arras (dans la commune, à 0,0 km)")
        await page.get_by_label("E-mail de l'appelant").fill("porteur@example.org")
        slot = page.get_by_label("Créneau libre")
        first_slot = await slot.locator("option").first.get_attribute("value")
        assert first_slot
        box = await page.locator("#rdv").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390, box
        await shot(page, "advisor-appointment-390px")
        await page.get_by_role("button", name="Réserver").click()
        result = page.locator("#rdv-result")
        await expect(result).to_contain_text("Rendez-vous réservé : CMA Hauts-de-France, Pas-de-Calais", timeout=15_000)
        await expect(result).to_contain_text("Confirmation envoyée à porteur@example.org.")
        await expect(slot.locator(f'option[value="{first_slot}"]')).to_have_count(0)  # the slot left the list
        await shot(page, "advisor-appointment-booked")
        got = parse(smtp_inbox.received[-1][2])
        assert {p.get_filename() for p in got.iter_attachments()} == {"brochure-cma.pdf", "rendez-vous.ics"}
        row = await stack.service.pool.fetchrow("SELECT office_id, booked_by, email_sent_at FROM appointments")
        assert row is not None and (row["office_id"], row["booked_by"]) == ("cma_arras", "alice")
        assert row["email_sent_at"] is not None
        assert not advisor.problems, advisor.problems
    finally:
        await context.close()
