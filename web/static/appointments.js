// "Rendez-vous et documentation" on the advisor page: communes of a postcode, nearest offices, free slots,
// booking and brochure (web/appointments_api.py). Text only: every string goes through textContent.
"use strict";
(function () {
  const { el, send } = window.aig;
  const section = document.getElementById("rdv");
  if (!section) return;
  const base = "/api/agents/" + encodeURIComponent(section.getAttribute("data-line"));
  const $ = (id) => document.getElementById(id);
  const postcode = $("rdv-postcode"), commune = $("rdv-commune"), email = $("rdv-email"), office = $("rdv-office");
  const slot = $("rdv-slot"), book = $("rdv-book"), brochure = $("rdv-brochure"), result = $("rdv-result");
  const FIELDS = { postcode: "code postal", commune: "commune", email: "e-mail", office: "bureau", start: "créneau",
    partner: "partenaire", linkedid: "appel" };
  let offices = [], partner = null, asked = 0;

  function say(text, kind) { result.textContent = text; result.className = kind || ""; }
  function fill(select, options, placeholder) {
    select.replaceChildren(...(placeholder ? [el("option", { value: "" }, placeholder)] : []),
      ...options.map(([value, text]) => el("option", { value: value }, text)));
    select.disabled = options.length === 0;
  }
  function problem(r) {
    const data = r.data || {};
    let text = data.message || ("Erreur " + r.status + ".");
    if (data.fields && data.fields.length) {
      text = "À corriger : " + data.fields.map((f) => (FIELDS[f.path] || f.path) + " (" + f.message + ")").join(", ") + ".";
    }
    return text;
  }
  function showSlots() {
    const chosen = offices.find((o) => o.id === office.value);
    // The select may cut its label on a phone: the address, tier and distance again, in full.
    const where = chosen ? [chosen.tier_label].concat(chosen.distance_km === null ? [] : ["à " + chosen.distance_km.toFixed(1).replace(".", ",") + " km"]) : [];
    $("rdv-address").textContent = chosen ? chosen.address + ", " + chosen.postcode + " " + chosen.commune + " (" + where.join(", ") + ")" : "";
    const slots = chosen ? chosen.slots : [];
    fill(slot, slots.map((s) => [s.start, s.label]), slots.length ? null : (chosen ? "Aucun créneau libre sous 14 jours" : "Choisissez d'abord le bureau"));
    slot.disabled = slots.length === 0;
    book.disabled = slots.length === 0;
  }
  async function lookup(quiet) {
    const code = postcode.value.trim();
    if (!/^[0-9]{5}$/.test(code)) return;
    const mine = ++asked;
    let url = base + "/appointments/offices?postcode=" + encodeURIComponent(code);
    if (commune.value) url += "&commune=" + encodeURIComponent(commune.value);
    const r = await send("GET", url);
    if (mine !== asked) return; // a newer lookup is on its way
    if (!r.ok) { say(problem(r), "error"); offices = []; fill(office, [], "Aucun bureau"); showSlots(); return; }
    const data = r.data;
    partner = data.partner;
    $("rdv-partner").textContent = "Partenaire : " + partner.name;
    const current = data.commune ? data.commune.code : "";
    fill(commune, data.communes.map((c) => [c.code, c.name]), data.communes.length > 1 && !current ? "Choisissez la commune" : null);
    commune.value = current;
    offices = data.offices;
    fill(office, offices.map((o) => [o.id, o.label]), offices.length ? null : "Choisissez d'abord la commune");
    office.disabled = offices.length === 0;
    showSlots();
    if (quiet !== true) say(offices.length ? "" : (data.communes.length > 1 ? "Plusieurs communes ont ce code postal : choisissez-la." : ""));
  }

  postcode.addEventListener("input", function () {
    commune.value = "";
    if (/^[0-9]{5}$/.test(postcode.value.trim())) { fill(commune, [], null); lookup(); }
  });
  commune.addEventListener("change", () => lookup());
  office.addEventListener("change", showSlots);

  book.addEventListener("click", async function () {
    if (!office.value || !slot.value) { say("Choisissez un bureau et un créneau.", "error"); return; }
    book.disabled = true;
    say("Réservation en cours…");
    const r = await send("POST", base + "/appointments", { office: office.value, start: slot.value,
      email: email.value.trim(), postcode: postcode.value.trim(), commune: commune.value || null });
    if (r.status === 201) say(r.data.message, "ok");
    else if (r.status === 502 && r.data && r.data.booking) say(r.data.message, "warn");
    else say(problem(r), "error");
    await lookup(true); // the slot taken (by us or someone else) leaves the list
  });

  brochure.addEventListener("click", async function () {
    const body = { email: email.value.trim() };
    if (partner) body.partner = partner.id;
    say("Envoi en cours…");
    const r = await send("POST", base + "/brochure", body);
    say(r.ok ? r.data.message : problem(r), r.ok ? "ok" : "error");
  });
})();
