// Advisor screen pop: an EventSource per line; agent actions post with the CSRF token.
"use strict";
(function () {
  const { el, send, json } = window.aig;
  const labels = json("labels") || { status: {}, outcome: {} };
  const screen = document.getElementById("screen");
  if (!screen) return;
  const line = screen.getAttribute("data-line");

  function render(pop) {
    const status = el("p", { class: "line-status st-" + pop.line_status }, "Ligne ", el("b", {}, pop.line), " : ",
      el("span", { id: "line-status" }, labels.status[pop.line_status] || pop.line_status));
    if (!pop.call_state) {
      screen.replaceChildren(status, el("p", { id: "no-call", class: "idle" }, "Aucun appel en cours sur cette ligne."));
      return;
    }
    const title = (pop.call_state === "ringing" ? "Appel entrant" : "En communication") + (pop.queue ? " — file " + pop.queue : "");
    const answers = pop.answers.length ? pop.answers.map((a) => el("tr", {}, el("th", {}, a.label), el("td", {}, a.value_label)))
      : [el("tr", {}, el("td", {}, "Pas de réponse au menu"))];
    const caller = el("section", { id: "caller", class: "caller " + pop.call_state }, el("h2", {}, title),
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

  const source = new EventSource("/api/advisor/stream?line=" + encodeURIComponent(line));
  source.addEventListener("screen", function (event) { render(JSON.parse(event.data)); });

  for (const button of document.querySelectorAll(".actions button[data-action]")) {
    button.addEventListener("click", async function () {
      const action = button.getAttribute("data-action");
      const body = action === "pause" ? { reason: document.getElementById("pause-reason").value } : undefined;
      const result = await send("POST", "/api/agents/" + encodeURIComponent(line) + "/" + action, body);
      document.getElementById("action-result").textContent = result.ok ? "Fait." : ((result.data && result.data.message) || ("Erreur " + result.status));
    });
  }
})();
