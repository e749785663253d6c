"""The advisor page's "Rendez-vous et documentation" section (HTML only; ``static/appointments.js`` drives it). Pure.

Every control has its label; the script fills the selects and the result line with ``textContent``
only, from ``/api/agents/{line}/appointments/offices``, ``.../appointments`` and ``.../brochure``
(``web.appointments_api``).
"""

from __future__ import annotations

from html import escape


def section(line: str) -> str:
    return (
        f'<section id="rdv" class="rdv" data-line="{escape(line)}" aria-labelledby="rdv-title">'
        '<h2 id="rdv-title">Rendez-vous et documentation</h2>'
        '<div class="rdv-form">'
        '<label for="rdv-postcode">Code postal de l\'appelant</label>'
        '<input id="rdv-postcode" inputmode="numeric" maxlength="5" pattern="[0-9]{5}" autocomplete="off"'
        ' placeholder="ex. 62000">'
        '<label for="rdv-commune">Commune</label>'
        '<select id="rdv-commune" disabled><option value="">Saisissez le code postal</option></select>'
        '<label for="rdv-email">E-mail de l\'appelant</label>'
        '<input id="rdv-email" type="email" autocomplete="off" placeholder="nom@domaine.fr">'
        '<p id="rdv-partner" class="rdv-note"></p>'
        '<label for="rdv-office">Bureau le plus proche</label>'
        '<select id="rdv-office" disabled><option value="">Choisissez d\'abord la commune</option></select>'
        '<p id="rdv-address" class="rdv-note"></p>'
        '<label for="rdv-slot">Créneau libre</label>'
        '<select id="rdv-slot" disabled><option value="">Choisissez d\'abord le bureau</option></select>'
        '<div class="rdv-buttons"><button type="button" id="rdv-book" disabled>Réserver</button>'
        '<button type="button" id="rdv-brochure">Envoyer la brochure</button></div>'
        '<p id="rdv-result" role="status" aria-live="polite"></p>'
        '</div></section>'
    )
