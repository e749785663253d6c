// Rule editor: build the whole hotline document from the form, preview (errors next to fields + diff), apply.
"use strict";
(function () {
  const { send, el, json } = window.aig;
  const current = json("current-rules");
  if (!current) return;

  function parsePath(path) {
    const parts = [];
    path.replace(/([^.[\]]+)|\[(\d+)\]/g, function (_, name, index) { parts.push(index !== undefined ? Number(index) : name); });
    return parts;
  }
  // Skill keys contain ':' but no '.': "partners[0].skills.sector:crafts" splits as wanted.
  function setPath(doc, path, value, removeEmpty) {
    const parts = parsePath(path);
    let node = doc;
    for (let i = 0; i < parts.length - 1; i++) {
      if (node[parts[i]] === undefined || node[parts[i]] === null) node[parts[i]] = typeof parts[i + 1] === "number" ? [] : {};
      node = node[parts[i]];
    }
    const last = parts[parts.length - 1];
    if (removeEmpty && value === "") delete node[last]; else node[last] = value;
  }
  function convert(input) {
    const raw = input.value.trim();
    const kind = input.getAttribute("data-kind");
    if (kind === "int" || kind === "skill") return raw === "" ? "" : (/^-?\d+$/.test(raw) ? Number(raw) : raw);
    return raw;
  }
  function collect() {
    const doc = JSON.parse(JSON.stringify(current));
    for (const input of document.querySelectorAll("#rules-editor [data-path]")) {
      setPath(doc, input.getAttribute("data-path"), convert(input), input.getAttribute("data-kind") === "skill");
    }
    for (const table of document.querySelectorAll("#rules-editor table[data-list]")) {
      const path = table.getAttribute("data-list");
      const rows = [];
      table.querySelectorAll("tbody tr[data-row]").forEach(function (row, index) {
        const item = {};
        for (const input of row.querySelectorAll("[data-field]")) {
          const field = input.getAttribute("data-field");
          input.setAttribute("data-errpath", path + "[" + index + "]." + field);
          const value = convert(input);
          if (!(field === "reason" && value === "")) item[field] = value;
        }
        rows.push(item);
      });
      setPath(doc, path, rows, false);
    }
    return doc;
  }
  function clearErrors() {
    for (const node of document.querySelectorAll(".field-error")) node.remove();
    document.getElementById("general-errors").replaceChildren();
  }
  function showErrors(errors) {
    clearErrors();
    const general = [];
    for (const err of errors) {
      let target = null;
      for (const node of document.querySelectorAll("[data-path], [data-errpath]")) {
        if (node.getAttribute("data-path") === err.path || node.getAttribute("data-errpath") === err.path) { target = node; break; }
      }
      if (!target) {  // an error about a whole list or object: the nearest list
        for (const table of document.querySelectorAll("table[data-list]")) {
          if (err.path.startsWith(table.getAttribute("data-list"))) { target = table; break; }
        }
      }
      const note = el("span", { class: "field-error", "data-error-for": err.path }, err.message);
      if (target) target.insertAdjacentElement("afterend", note); else general.push(el("div", {}, (err.path ? err.path + " : " : "") + err.message));
    }
    document.getElementById("general-errors").replaceChildren(...general);
  }

  // Routing effect and "Tester un profil": answers and partners shown with their French labels.
  const routeMenu = json("route-menu") || { questions: {}, partners: {} };
  function partnerName(id) { return routeMenu.partners[id] || id; }
  function names(ids) {
    if (!ids.length) return "personne";
    const shown = ids.map(partnerName);
    return shown.length === 1 ? shown[0] : shown.slice(0, -1).join(", ") + " et " + shown[shown.length - 1];
  }
  function answersText(answers) {
    const parts = [];
    for (const [question, value] of Object.entries(answers)) {
      const q = routeMenu.questions[question];
      parts.push(q && q.options[value] ? q.options[value] : value);
    }
    return parts.length ? parts.join(" · ") : "(aucune réponse)";
  }
  function showRouting(routing) {
    const summary = document.getElementById("routing-summary");
    const table = document.getElementById("routing-changes");
    if (!routing) {
      summary.textContent = "Corrigez les champs signalés pour voir l'effet sur l'acheminement.";
      table.hidden = true;
      return;
    }
    const n = routing.changed_count;
    let text = n === 0 ? "Aucun profil ne change de premier partenaire"
      : (n === 1 ? "1 profil change" : n + " profils changent") + " de premier partenaire";
    text += " (sur " + routing.profiles + " profils complets). Files : " + routing.queues_before + " → "
      + routing.queues_after + " ; appartenances des lignes aux files : " + routing.memberships_after.toLocaleString("fr-FR") + ".";
    if (routing.changed.length < n) text += " Les " + routing.changed.length + " premiers sont listés.";
    summary.textContent = text;
    const rows = routing.changed.map(function (c) {
      return el("tr", {}, el("td", {}, answersText(c.answers)), el("td", {}, names(c.before)), el("td", {}, names(c.after)));
    });
    table.querySelector("tbody").replaceChildren(...rows);
    table.hidden = rows.length === 0;
  }
  function ringText(escalation) {
    const parts = [];
    for (const step of escalation) {
      if (!step.added.length) continue;
      const when = step.after_seconds > 0 ? " après " + step.after_seconds + " s" : "";
      parts.push((parts.length ? "puis " : "Sonne d'abord ") + names(step.added) + when);
    }
    return parts.join(", ") + ".";
  }
  document.getElementById("route-test-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    const answers = {};
    for (const select of this.querySelectorAll("select")) if (select.value !== "") answers[select.name] = select.value;
    const r = await send("POST", "/api/route/explain", { answers: answers, document: collect() });
    const queue = document.getElementById("route-test-queue");
    const table = document.getElementById("route-test-result");
    const rings = document.getElementById("route-test-rings");
    if (!r.ok) {
      if (r.status === 422 && r.data && r.data.fields) showErrors(r.data.fields);
      queue.textContent = r.status === 422 ? "Corrigez les champs signalés." : ((r.data && r.data.message) || ("Erreur " + r.status));
      table.hidden = true;
      rings.textContent = "";
      return;
    }
    queue.textContent = "File : " + r.data.queue + " (" + answersText(r.data.answers) + ")";
    table.querySelector("tbody").replaceChildren(...r.data.partners.map(function (p) {
      return el("tr", { "data-partner": p.id }, el("td", {}, p.name), el("td", {}, p.score), el("td", {}, p.tier + 1));
    }));
    table.hidden = false;
    rings.textContent = ringText(r.data.escalation);
  });

  const applyButton = document.getElementById("apply");
  document.getElementById("preview").addEventListener("click", async function () {
    const r = await send("POST", "/api/rules/preview", { document: collect() });
    const diff = document.getElementById("diff");
    if (!r.ok) { diff.textContent = (r.data && r.data.message) || ("Erreur " + r.status); applyButton.disabled = true; return; }
    showErrors(r.data.errors);
    diff.textContent = r.data.valid ? (r.data.diff.length ? r.data.diff.join("\n") : "Aucun changement.") : "Corrigez les champs signalés.";
    showRouting(r.data.routing);
    document.getElementById("asterisk-effect").textContent = r.data.asterisk ? r.data.asterisk.message : "";
    applyButton.disabled = !r.data.valid || !r.data.diff.length;
  });
  // A request's state as the history table says it (web.pages.RULE_STATUSES).
  function said(status) {
    return { pending: "en attente", applied: "appliquée", failed: "échouée" }[status] || status;
  }
  applyButton.addEventListener("click", async function () {
    applyButton.disabled = true;
    const r = await send("POST", "/api/rules/apply", { document: collect() });
    const out = document.getElementById("apply-result");
    if (r.status === 422 && r.data && r.data.fields) { showErrors(r.data.fields); out.textContent = r.data.message; return; }
    out.textContent = r.data ? (r.data.status ? "Demande " + r.data.request_id + " : " + said(r.data.status) + (r.data.result ? " — " + r.data.result : "") : r.data.message) : ("Erreur " + r.status);
    if (r.status === 200) setTimeout(function () { window.location.reload(); }, 800);
  });
  document.getElementById("rollback").addEventListener("click", async function () {
    const r = await send("POST", "/api/rules/rollback");
    document.getElementById("apply-result").textContent = r.data ? (r.data.status ? said(r.data.status) : r.data.message) : ("Erreur " + r.status);
    if (r.status === 200) setTimeout(function () { window.location.reload(); }, 800);
  });
  document.getElementById("rules-editor").addEventListener("click", function (event) {
    const target = event.target;
    if (target.hasAttribute("data-remove")) target.closest("tr").remove();
    const list = target.getAttribute("data-add");
    if (list) {
      const template = document.querySelector('template[data-template-for="' + CSS.escape(list) + '"]');
      document.querySelector('table[data-list="' + CSS.escape(list) + '"] tbody').append(template.content.cloneNode(true));
    }
  });
})();
