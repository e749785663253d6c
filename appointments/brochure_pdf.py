"""Write the partners' brochures (``docs/brochures/<partner>.pdf``): one page, real PDF, small.

Run ``python -m appointments.brochure_pdf`` after editing a partner's name or offices; the PDFs
are committed. fpdf2 is a dev dependency: the service only reads the files.
"""

from __future__ import annotations

import datetime as dt
import sys

from fpdf import FPDF

from config.loader import load_hotline
from config.models import Partner
from config.settings import REPO_ROOT


def brochure(partner: Partner, hotline_name: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # reproducible bytes
    pdf.set_title(f"{partner.name}: créer ou reprendre une entreprise")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 10, partner.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.multi_cell(0, 7, f"{hotline_name}: vous créez, reprenez ou développez une entreprise en Hauts-de-France ? "
                         "Nos conseillers vous reçoivent sur rendez-vous.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, "Nos accueils", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for office in partner.offices:
        pdf.multi_cell(0, 6, f"{office.name}: {office.address}, {office.postcode} {office.commune}",
                       new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def main() -> int:
    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    for partner in hotline.partners:
        if partner.brochure is None:
            continue
        target = REPO_ROOT / partner.brochure
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(brochure(partner, hotline.name))
        print(f"{target.relative_to(REPO_ROOT)}: {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
