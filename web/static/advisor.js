// Advisor screen pop: an event stream per line (aig.live: retried forever); agent actions post with the CSRF token.
"use strict";
(function () {
  const { el, send, json } = window.aig;
  const labels = json("labels") || { status: {}, outcome: {} };
  const screen = document.getElementById("screen");
  if (!screen) return;
  const line = screen.getAttribute("data-line");

  const TITLES = { ringing: "Appel entrant", connected: "En communication", wrapup: "Post-appel — appel terminé" };

  function allowTransfer(connected) {
    for (const button of document.querySelectorAll(".transfer button[data-transfer]")) button.disabled = !connected;
  }

  function render(pop) {
    allowTransfer(pop.call_state === "connected");
    const status = el("p", { class: "line-status st-" + pop.line_status }, "Ligne ", el("b", {}, pop.line), " : ",
      el("span", { id: "line-status" }, labels.status[pop.line_status] || pop.line_status));
    if (!pop.call_state) {
      screen.replaceChildren(status, el("p", { id: "no-call", class: "idle" }, "Aucun appel en cours sur cette ligne."));
      return;
    }
    const title = (TITLES[pop.call_state] || pop.call_state) + (pop.queue ? " — file " + (pop.queue_label || pop.queue) : "");
    const answers = pop.answers.length ? pop.answers.map((a) => el("tr", {}, el("th", {}, a.label), el("td", {}, a.value_label)))
      : [el("tr", {}, el("td", {}, "Pas de réponse au menu"))];
    // An outbound call (a callback or a J+8 follow-up): say so, why, and whose answers these are.
    const cb = pop.callback;
    const banner = cb ? [el("p", { id: "callback", class: "callback " + cb.kind }, el("b", { id: "callback-label" }, cb.label), " : ",
      el("span", { id: "callback-why" }, cb.why),
      (cb.origin_start ? " — appel du " + cb.origin_start.slice(0, 16).replace("T", " ") : "") +
      (cb.origin_partner ? ", répondu par " + cb.origin_partner : "") + " (essai " + (cb.tries + 1) + "). ",
      "Choix du client au menu lors de cet appel :")] : [];
    const caller = el("section", { id: "caller", class: "caller " + pop.call_state }, el("h2", {}, title), ...banner,
      el("p", { class: "who" }, el("span", { id: "caller-number" }, pop.number), " ", el("span", { id: "caller-clid" }, pop.clid)),
      el("table", { id: "answers" }, ...answers),
      el("h3", {}, "Appels précédents : ", el("span", { id: "earlier-count" }, pop.earlier_calls.length)));
    if (pop.earlier_calls.length) {
      caller.append(el("p", {}, Object.entries(pop.earlier_outcomes).map(([k, n]) => (labels.outcome[k] || k) + " : " + n).join(", ")));
      caller.append(el("table", { class: "earlier" }, el("tr", {}, el("th", {}, "Date"), el("th", {}, "Issue"), el("th", {}, "Partenaire"),
        el("th", {}, "Besoin"), el("th", {}, "Secteur")), ...pop.earlier_calls.map((c) => el("tr", {},
        el("td", {}, c.start.slice(0, 16).replace("T", " ")), el("td", {}, labels.outcome[c.outcome] || c.outcome),
        el("td", {}, c.partner || ""), el("td", {}, c.need || ""), el("td", {}, c.sector || "")))));
    }
    const memo = el("section", { id: "memo" }, el("h2", {}, "Mémo"), ...(pop.memo.length ? pop.memo.map((m) =>
      el("article", { class: "memo" }, el("h3", {}, m.title), el("p", {}, m.body))) : [el("p", {}, "Aucune section pour ce profil.")]));
    screen.replaceChildren(status, caller, memo);
  }

  // A J+8 follow-up: once the caller was reached, the advisor records its outcome (kept after hang-up).
  const OUTCOMES = [["reached", "Joint"], ["satisfied", "Satisfait"], ["needs_more_help", "Besoin d'aide (nouveau rappel)"],
    ["wrong_number", "Faux numéro"], ["refused", "Refus"]];
  let followupShown = null;
  function offerOutcome(cb) {
    if (!cb || cb.kind !== "followup" || followupShown === cb.id) return;
    followupShown = cb.id;
    const select = el("select", { id: "followup-code" }, ...OUTCOMES.map(([v, t]) => el("option", { value: v }, t)));
    const note = el("p", { id: "followup-result", role: "status" });
    const button = el("button", { type: "button", id: "followup-save" }, "Enregistrer l'issue");
    button.addEventListener("click", async function () {
      const r = await send("POST", "/api/callbacks/" + encodeURIComponent(cb.id) + "/outcome", { code: select.value });
      note.textContent = r.ok ? ("Issue enregistrée." + (r.data && r.data.new_request ? " Nouveau rappel : " + r.data.new_request : ""))
        : ((r.data && r.data.message) || ("Erreur " + r.status));
    });
    const section = el("section", { id: "followup-outcome" }, el("h2", {}, "Issue du suivi J+8 " + cb.id),
      el("label", {}, "Issue ", select), " ", button, note);
    const old = document.getElementById("followup-outcome");
    if (old) old.replaceWith(section); else screen.after(section);
  }

  // Notes and wrap-up code: open from the moment the call is answered, kept through the wrap-up (the
  // server keeps the pop after the hang-up) until "Terminer le post-appel" saves them on the call's
  // record. Built once per call, so a re-render of the pop never wipes what the advisor typed.
  let wrapup = null;
  function buildWrapup(pop) {
    const id = pop.linkedid;
    const code = el("select", { id: "wrapup-code" }, el("option", { value: "" }, "Choisissez…"),
      ...pop.wrapup_codes.map((c) => el("option", { value: c.id }, c.label)));
    const notes = el("textarea", { id: "wrapup-notes", rows: 5, maxLength: 4000 });
    const finish = el("button", { type: "button", id: "wrapup-finish" }, "Terminer le post-appel");
    const hint = el("span", { id: "wrapup-hint", class: "note" });
    const result = el("p", { id: "wrapup-result", role: "status" });
    finish.addEventListener("click", async function () {
      if (!code.value) { result.textContent = "Choisissez un code de post-appel."; return; }
      finish.disabled = true;
      result.textContent = "Enregistrement…";
      const r = await send("POST", "/api/agents/" + encodeURIComponent(line) + "/wrapup",
        { linkedid: id, code: code.value, notes: notes.value });
      if (r.ok) {
        document.getElementById("action-result").textContent = "Post-appel terminé.";
        result.textContent = "Post-appel terminé.";
      } else {
        result.textContent = (r.data && r.data.message) || ("Erreur " + r.status);
        finish.disabled = false;
      }
    });
    const section = el("section", { id: "wrapup", class: "wrapup" }, el("h2", {}, "Notes et post-appel"),
      el("label", { htmlFor: "wrapup-notes" }, "Notes de l'appel"), notes,
      el("label", { htmlFor: "wrapup-code" }, "Code de post-appel"), code,
      el("div", { class: "wrapup-buttons" }, finish, hint), result);
    return { linkedid: id, section: section, finish: finish, hint: hint };
  }
  function offerWrapup(pop) {
    if (pop.call_state === null) {  // idle: the wrap-up ended (or there was none)
      if (wrapup) { wrapup.section.remove(); wrapup = null; }
      return;
    }
    if (!pop.linkedid || (pop.call_state !== "connected" && pop.call_state !== "wrapup")) return;  // a new call rings
    if (!wrapup || wrapup.linkedid !== pop.linkedid) {
      if (wrapup) wrapup.section.remove();
      wrapup = buildWrapup(pop);
      screen.after(wrapup.section);
    }
    const ended = pop.call_state === "wrapup";
    wrapup.finish.disabled = !ended;
    wrapup.hint.textContent = ended ? "" : " possible une fois l'appel terminé";
  }

  // The first message after a (re)connect is the line's whole pop: a resync.
  window.aig.live("/api/advisor/stream?line=" + encodeURIComponent(line),
    { screen: function (pop) { render(pop); offerWrapup(pop); offerOutcome(pop.callback); } });

  for (const button of document.querySelectorAll(".actions button[data-action]")) {
    button.addEventListener("click", async function () {
      const action = button.getAttribute("data-action");
      const body = action === "pause" ? { reason: document.getElementById("pause-reason").value } : undefined;
      const result = await send("POST", "/api/agents/" + encodeURIComponent(line) + "/" + action, body);
      document.getElementById("action-result").textContent = result.ok ? "Fait." : ((result.data && result.data.message) || ("Erreur " + result.status));
    });
  }

  // Supervisors: Asterisk calls their own softphone, which then hears (or joins) the line's call.
  for (const button of document.querySelectorAll(".listen button[data-mode]")) {
    button.addEventListener("click", async function () {
      const result = await send("POST", "/api/agents/" + encodeURIComponent(line) + "/listen",
        { mode: button.getAttribute("data-mode") });
      document.getElementById("listen-result").textContent = result.ok ? "Votre poste sonne : décrochez."
        : ((result.data && result.data.message) || ("Erreur " + result.status));
    });
  }

  for (const button of document.querySelectorAll(".transfer button[data-transfer]")) {
    button.addEventListener("click", async function () {
      const partner = button.getAttribute("data-transfer");
      const result = await send("POST", "/api/agents/" + encodeURIComponent(line) + "/transfer", { partner: partner });
      document.getElementById("transfer-result").textContent = result.ok ? "Appel transféré."
        : ((result.data && result.data.message) || ("Erreur " + result.status));
    });
  }
})();
