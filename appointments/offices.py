"""Nearest office and free slots, for the advisor's "Rendez-vous et documentation". Pure.

Rules:

- The caller's place is a French commune (INSEE code, département, arrondissement,
  intercommunalité), found from the postcode in Etalab's découpage administratif
  (``appointments.communes``). That dataset has **no coordinates** for communes.
- So offices are ranked by closeness tier first: same commune, same intercommunalité
  (EPCI), same arrondissement, same département, same région, elsewhere. Inside a tier, by
  great-circle (haversine) distance from the caller's point when one is known (an office
  in the caller's commune gives it; the advisor may also pass coordinates), then by name.
- Slots are the offices' weekly hours cut in ``slot_minutes`` pieces, in the hotline's
  time zone, from ``not_before`` (a slot already started is not offered) for ``days`` days,
  minus the slots already booked. Booking itself is PostgreSQL's job (a unique constraint).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from config.models import WEEKDAYS, Office

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
TIERS = ("commune", "epci", "arrondissement", "departement", "region", "ailleurs")


@dataclass(frozen=True)
class Commune:
    code: str  # INSEE code (COG)
    name: str
    postcodes: tuple[str, ...]
    departement: str
    region: str
    arrondissement: str | None = None
    epci: str | None = None


@dataclass(frozen=True)
class RankedOffice:
    office: Office
    tier: str
    distance_km: float | None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance: 2R·asin(√(sin²(Δφ/2) + cos φ1·cos φ2·sin²(Δλ/2)))."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _tier(caller: Commune, office: Commune | None) -> int:
    if office is None:
        return len(TIERS) - 1
    if office.code == caller.code:
        return 0
    if caller.epci is not None and office.epci == caller.epci:
        return 1
    if caller.arrondissement is not None and office.arrondissement == caller.arrondissement:
        return 2
    if office.departement == caller.departement:
        return 3
    if office.region == caller.region:
        return 4
    return 5


def rank_offices(
    offices: Sequence[Office],
    caller: Commune,
    office_communes: dict[str, Commune],
    point: tuple[float, float] | None = None,
) -> list[RankedOffice]:
    """The offices nearest first. ``office_communes``: office id -> its commune (missing: 'ailleurs')."""
    if point is None:
        here = [o for o in offices if (c := office_communes.get(o.id)) is not None and c.code == caller.code]
        point = (here[0].latitude, here[0].longitude) if here else None
    ranked: list[tuple[int, float, str, RankedOffice]] = []
    for office in offices:
        tier = _tier(caller, office_communes.get(office.id))
        km = haversine_km(point[0], point[1], office.latitude, office.longitude) if point else None
        ranked.append((tier, km if km is not None else 0.0, office.name,
                       RankedOffice(office, TIERS[tier], None if km is None else round(km, 1))))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked]


def office_slots(
    office: Office, not_before: dt.datetime, days: int, timezone: str, booked: Iterable[dt.datetime] = (),
) -> list[dt.datetime]:
    """The office's free slot starts (aware, in ``timezone``) from ``not_before`` for ``days`` days."""
    tz = ZoneInfo(timezone)
    taken = {b.astimezone(dt.UTC) for b in booked}
    start_day = not_before.astimezone(tz).date()
    out: list[dt.datetime] = []
    for offset in range(days):
        day = start_day + dt.timedelta(days=offset)
        weekday = WEEKDAYS[day.weekday()]
        for hours in office.slots:
            if hours.weekday != weekday:
                continue
            step = dt.timedelta(minutes=hours.slot_minutes)
            begin = dt.datetime.combine(day, hours.start, tz)
            end = dt.datetime.combine(day, hours.end, tz)
            at = begin
            while at + step <= end:
                if at >= not_before and at.astimezone(dt.UTC) not in taken:
                    out.append(at)
                at += step
    return sorted(out)


def slot_length(office: Office, start: dt.datetime, timezone: str) -> dt.timedelta | None:
    """The length of the slot starting at ``start`` at this office, None if no slot starts then."""
    local = start.astimezone(ZoneInfo(timezone))
    weekday = WEEKDAYS[local.weekday()]
    for hours in office.slots:
        if hours.weekday != weekday:
            continue
        step = dt.timedelta(minutes=hours.slot_minutes)
        at = dt.datetime.combine(local.date(), hours.start, local.tzinfo)
        end = dt.datetime.combine(local.date(), hours.end, local.tzinfo)
        while at + step <= end:
            if at == local:
                return step
            at += step
    return None
