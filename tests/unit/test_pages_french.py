"""Everything in French for French users (issue 14, "finish"): the rules page says what each setting
is in words, not the slugs of the configuration (``ring_seconds``, ``monday``, ``departement:aisne``)."""

import re

from config.models import Hotline
from web.pages import PageUser, rules_page

SLUGS = ("ring_seconds", "retry_seconds", "max_wait_seconds", "skill_penalty_floor", "strategy", "monday",
         "sunday", "departement:aisne", "need:creation", "sector:crafts", "size:micro", "queuerules")


def visible_text(page: str) -> str:
    """What a reader sees: no tags, no attributes, no script data."""
    page = re.sub(r"<script\b.*?</script>", " ", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def test_the_rules_page_names_every_setting_in_french(hotline: Hotline) -> None:
    history = [{"id": 3, "version": 2, "action": "apply", "requested_by": "ada",
                "requested_at": "2026-12-05T09:30:00+00:00", "status": "applied", "result": "ok"}]
    text = visible_text(rules_page(hotline, history, PageUser("ada", "admin", None), "csrf", apply_available=True))
    assert [slug for slug in SLUGS if slug in text] == []
    for words in ("Département : Aisne", "Secteur : artisanat", "Besoin : création ou reprise d'entreprise",
                  "Sonnerie d'une ligne (s)", "lundi", "dimanche", "CMA", "appliquée", "05/12/2026 10:30"):
        assert words in text.replace("&#x27;", "'"), words


def test_queues_are_named_by_their_partners_not_their_slugs() -> None:
    from web.wallboard import queue_label

    names = {"cma": "CMA", "mel": "MEL", "cci": "CCI", "region": "Région / HDFID"}
    assert queue_label("rank-cma-mel", names) == "CMA → MEL → les autres"
    assert queue_label("rank-cma_cci-region", names) == "CMA / CCI → Région / HDFID → les autres"
    assert queue_label("rank-all", names) == "tous les partenaires"
    assert queue_label("partner-cci", names) == "CCI (transferts)"
    assert queue_label("hotline", names) == "file générale"
