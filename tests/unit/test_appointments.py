"""Nearest office, slot generation and the .ics invitation (appointments/, pure)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appointments.communes import load_communes
from appointments.invitation import Appointment, escape_text, fold, ics
from appointments.offices import Commune, haversine_km, office_slots, rank_offices, slot_length
from config.models import Hotline, Office

PARIS = ZoneInfo("Europe/Paris")


def test_haversine_lille_arras_is_about_45_km() -> None:
    assert haversine_km(50.6292, 3.0573, 50.2910, 2.7775) == pytest.approx(43.3, abs=1.0)
    assert haversine_km(50.0, 3.0, 50.0, 3.0) == 0.0


def _commune(code: str, dep: str, epci: str | None = None, arr: str | None = None, region: str = "32") -> Commune:
    return Commune(code, code, (), dep, region, arr, epci)


def test_offices_rank_by_commune_epci_departement_then_distance(hotline: Hotline) -> None:
    cci = hotline.partner("cci")
    assert cci is not None
    where = {"cci_lille": _commune("59350", "59", "mel"), "cci_arras": _commune("62041", "62", "cua", "621"),
             "cci_amiens": _commune("80021", "80"), "cci_beauvais": _commune("60057", "60"),
             "cci_saint_quentin": _commune("02691", "02")}
    # Dainville: same EPCI as Arras, no office of its own, no coordinates
    dainville = _commune("62263", "62", "cua", "621")
    ranked = rank_offices(cci.offices, dainville, where)
    assert [r.office.id for r in ranked][:1] == ["cci_arras"] and ranked[0].tier == "epci"
    assert ranked[0].distance_km is None
    # Arras itself: its office first, and the others by distance from Arras
    ranked = rank_offices(cci.offices, where["cci_arras"], where)
    assert [r.office.id for r in ranked] == ["cci_arras", "cci_lille", "cci_amiens", "cci_saint_quentin",
                                             "cci_beauvais"]
    assert [r.tier for r in ranked][:2] == ["commune", "region"]
    assert ranked[0].distance_km == 0.0
    distances = [r.distance_km for r in ranked[1:]]
    assert distances == sorted(distances)  # type: ignore[type-var]
    # outside the region, with a point: pure distance
    far = _commune("75056", "75", region="11")
    ranked = rank_offices(cci.offices, far, where, point=(48.8566, 2.3522))
    assert ranked[0].office.id == "cci_beauvais"


def test_slots_cut_the_weekly_hours_skip_the_past_and_the_booked(hotline: Hotline) -> None:
    office = hotline.partner("cci").offices[0]  # type: ignore[union-attr]
    monday_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
    booked = [dt.datetime(2026, 11, 23, 10, 30, tzinfo=PARIS)]
    slots = office_slots(office, monday_10, 2, "Europe/Paris", booked)
    # Monday 9:00-12:00 by 45 min: 9:00 9:45 10:30 11:15; from 10:00, 10:30 booked -> 11:15; Tuesday 14:00-17:00
    assert [f"{s:%a %H:%M}" for s in slots] == ["Mon 11:15", "Tue 14:00", "Tue 14:45", "Tue 15:30", "Tue 16:15"]
    assert slot_length(office, slots[0], "Europe/Paris") == dt.timedelta(minutes=45)
    assert slot_length(office, monday_10, "Europe/Paris") is None


def test_office_slot_shorter_than_the_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than one slot"):
        Office.model_validate({"id": "x", "name": "X", "address": "1 rue", "commune": "Lille", "postcode": "59000",
                               "latitude": 50.6, "longitude": 3.0, "slots": [
                                   {"weekday": "monday", "start": "09:00", "end": "09:30", "slot_minutes": 45}]})


def test_ics_has_the_time_and_address_escaped_and_folded(hotline: Hotline) -> None:
    cci = hotline.partner("cci")
    assert cci is not None
    start = dt.datetime(2026, 11, 23, 11, 15, tzinfo=PARIS)
    text = ics(Appointment("rdv-1@aiguilleur", cci, cci.offices[0], start, start + dt.timedelta(minutes=45),
                           "porteur@example.org", "numero-unique@example.org"), start)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "DTSTART:20261123T101500Z\r\n" in text and "DTEND:20261123T110000Z\r\n" in text
    unfolded = text.replace("\r\n ", "")
    assert "LOCATION:CCI Grand Lille\\, Place du Théâtre\\, 59000 Lille" in unfolded
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert escape_text("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    assert fold("x" * 80) == "x" * 75 + "\r\n " + "x" * 5


def test_commune_loader_reads_etalab_files(tmp_path: Path) -> None:
    (tmp_path / "communes.json").write_text(json.dumps([
        {"code": "62041", "nom": "Arras", "type": "commune-actuelle", "departement": "62", "region": "32",
         "arrondissement": "621", "codesPostaux": ["62000"]},
        {"code": "62263", "nom": "Dainville", "type": "commune-actuelle", "departement": "62", "region": "32",
         "codesPostaux": ["62000"]},
        {"code": "62999", "nom": "Ancienne", "type": "commune-deleguee", "codesPostaux": ["62000"]}]))
    (tmp_path / "epci.json").write_text(json.dumps([{"code": "cua", "membres": [{"code": "62263"}]}]))
    index = load_communes(tmp_path)
    assert [c.name for c in index.find("62000")] == ["Arras", "Dainville"]
    assert index.find("62000", "dainville")[0].epci == "cua"
    assert index.find("99999") == []


def test_the_real_dataset_knows_the_offices_communes(hotline: Hotline) -> None:
    """Every configured office's postcode and commune is in Etalab's data (make communes)."""
    index = load_communes()
    for partner in hotline.partners:
        for office in partner.offices:
            assert index.find(office.postcode, office.commune), f"{office.id}: {office.postcode} {office.commune}"


def test_editing_offices_needs_no_restart_and_no_asterisk_change(hotline: Hotline) -> None:
    from aiguilleur.confgen import render
    from config.settings import AmiSettings, FastAgiSettings, PbxSettings
    from routing.rules import restart_needed

    data = hotline.model_dump(mode="json")
    data["partners"][3]["offices"][0]["address"] = "1 place du Théâtre"
    data["partners"][3]["offices"].pop()
    edited = Hotline.model_validate(data)
    assert restart_needed(hotline, edited) == []
    settings = (PbxSettings(), AmiSettings(), FastAgiSettings())
    assert render(edited, *settings) == render(hotline, *settings)
