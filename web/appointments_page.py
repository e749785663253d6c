"""The advisor page's "Rendez-vous et documentation" section (``templates/appointments_section.html``;
``static/appointments.js`` drives it). Pure.

Every control has its label; the script fills the selects and the result line with ``textContent``
only, from ``/api/agents/{line}/appointments/offices``, ``.../appointments`` and ``.../brochure``
(``web.appointments_api``).
"""

from __future__ import annotations

from web.templating import render


def section(line: str) -> str:
    """The section for ``line``'s advisor (the advisor page includes the same template)."""
    return render("appointments_section.html", line=line)
