"""French communes from Etalab's ``@etalab/decoupage-administratif`` (npm), read at the edge.

The package ships INSEE's Code officiel géographique with La Poste's postcodes
(``data/communes.json``) and the intercommunalités (``data/epci.json``). ``make communes``
(a prerequisite of ``make run`` and ``make test``) fetches the pinned version with
``npm pack`` into ``~/.cache/aiguilleur/communes/<version>/``; bump ``VERSION`` (and the
Makefile's) to refresh: Etalab publishes one version per yearly COG.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from appointments.offices import Commune

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"


def data_dir() -> Path:
    override = os.environ.get("AIGUILLEUR_COMMUNES_DIR")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "aiguilleur" / "communes" / VERSION / "package" / "data"


class CommunesMissing(RuntimeError):
    pass


class CommuneIndex:
    """postcode -> communes, and INSEE code -> commune (current communes only)."""

    def __init__(self, communes: list[Commune]) -> None:
        self.by_code = {c.code: c for c in communes}
        self.by_postcode: dict[str, list[Commune]] = {}
        for c in communes:
            for pc in c.postcodes:
                self.by_postcode.setdefault(pc, []).append(c)
        for found in self.by_postcode.values():
            found.sort(key=lambda c: c.name)

    def find(self, postcode: str, name: str | None = None) -> list[Commune]:
        found = self.by_postcode.get(postcode, [])
        if name:
            wanted = _fold(name)
            found = [c for c in found if _fold(c.name) == wanted]
        return found


def _fold(name: str) -> str:
    import unicodedata
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in text if ch.isalnum())


def load_communes(directory: Path | None = None) -> CommuneIndex:
    directory = directory or data_dir()
    communes_file, epci_file = directory / "communes.json", directory / "epci.json"
    if not communes_file.is_file():
        raise CommunesMissing(f"{communes_file} is missing: run `make communes` ({PACKAGE}@{VERSION} from npm)")
    epci_of: dict[str, str] = {}
    if epci_file.is_file():
        for epci in json.loads(epci_file.read_text(encoding="utf-8")):
            for member in epci.get("membres", []):
                epci_of[member["code"]] = epci["code"]
    rows = json.loads(communes_file.read_text(encoding="utf-8"))
    communes = [
        Commune(code=r["code"], name=r["nom"], postcodes=tuple(r.get("codesPostaux", ())),
                departement=r.get("departement", ""), region=r.get("region", ""),
                arrondissement=r.get("arrondissement"), epci=epci_of.get(r["code"]))
        for r in rows if r.get("type") == "commune-actuelle"
    ]
    return CommuneIndex(communes)
