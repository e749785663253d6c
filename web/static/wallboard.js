// Live wallboard: one event stream (aig.live: retried forever); every message re-renders queues and lines (text nodes only).
"use strict";
(function () {
  const { el, clock, percent, json, send } = window.aig;
  const labels = json("labels") || {};
  const hint = json("definitions") || {};  // cdr.kpi.DEFINITIONS_FR, shown on hover
  let receivedAt = Date.now();

  // The service level's numerator and denominator, labelled: the same text as pages.sl_counts.
  function slCounts(within, offered, past, seconds) {
    const limit = seconds + " s";
    if (!offered && !past) return "";  // nothing to count: the level reads "—"
    if (!past) return within + " répondus ≤ " + limit + " / " + offered + " présentés";
    return within + " répondus ≤ " + limit + " / (" + offered + " présentés + " + past + " en attente > " + limit + ")";
  }

  function renderQueues(board) {
    const body = document.getElementById("queue-rows");
    const rows = board.queues.map(function (q) {
      const items = q.callers.map(function (c) {
        return el("li", {}, el("span", { class: "num" }, c.number), " ", el("span", { class: "name" }, c.name), " ",
          el("span", { class: "wait", "data-wait": c.waited_seconds }, clock(c.waited_seconds)));
      });
      if (q.callers_more) items.push(el("li", { class: "more" }, "+" + q.callers_more + " de plus"));
      const callers = el("ol", { class: "callers" }, ...items);
      const counts = slCounts(q.answered_within_threshold_today, q.offered_today, q.waiting_past_threshold,
        board.service_level_seconds);
      return el("tr", { "data-queue": q.name, class: q.waiting ? "hot" : "" },
        el("th", { title: q.name }, q.label || q.name), el("td", { class: "waiting", title: hint.callers_waiting }, q.waiting),
        el("td", { class: "longest lvl-" + ((q.levels || {}).longest_wait || "ok"), "data-wait": q.longest_wait_seconds,
          title: hint.longest_wait },
          clock(q.longest_wait_seconds)),
        el("td", { class: "expected", title: hint.expected_wait }, clock(q.expected_wait_seconds)),
        el("td", { class: "free", title: hint.lines_available }, q.lines_available + "/" + q.lines_staffed),
        el("td", { class: "sl lvl-" + ((q.levels || {}).service_level || "ok"), title: hint.service_level },
          el("span", { class: "sl-value" },
          percent(q.service_level_today)), " ", el("small", { class: "sl-counts" }, counts ? "(" + counts + ")" : "")),
        el("td", {}, callers));
    });
    body.replaceChildren(...rows);
    const idle = document.getElementById("idle-queues");
    if (idle) {
      idle.textContent = board.idle_queues ? "+ " + board.idle_queues + " files de profil sans appel aujourd'hui (masquées)" : "";
    }
  }

  function renderPartners(board) {
    const box = document.getElementById("partners");
    box.replaceChildren(...board.partners.map(function (p) {
      const counts = Object.entries(p.counts).filter(([, n]) => n > 0).map(([s, n]) =>
        el("span", { class: "count st-" + s, title: labels[s] || s }, (labels[s] || s) + " ", el("b", {}, n)));
      const lines = p.lines.map((l) => el("li", { class: "line st-" + l.status, "data-line": l.line },
        el("span", { class: "id" }, l.line), el("span", { class: "st" }, labels[l.status] || l.status),
        el("span", { class: "reason" }, l.paused_reason)));
      return el("section", { class: "partner", "data-partner": p.id }, el("h2", {}, p.name),
        el("div", { class: "counts" }, ...counts), el("ul", { class: "lines" }, ...lines));
    }));
  }

  // Threshold levels: the server computes them (web/wallboard.py); the longest wait ticks here between
  // messages, so its level is re-evaluated against the same limits as it ticks.
  let thresholds = {};
  let alarmTexts = [];
  function setLevel(name, level) {
    const node = document.getElementById("fig-" + name);
    if (node) node.className = "big lvl-" + level;
  }
  function waitLevel(seconds) {
    if (seconds > thresholds.longest_wait_alarm_seconds) return "alarm";
    return seconds > thresholds.longest_wait_warn_seconds ? "warn" : "ok";
  }
  function renderAlarms(texts) {
    const box = document.getElementById("alarms");
    // Rewritten only when the text changes: a screen reader repeats an aria-live region on every change.
    if (texts.join("\n") === alarmTexts.join("\n")) return;
    alarmTexts = texts.slice();
    box.replaceChildren(...texts.map((t) => el("p", {}, t)));
  }

  // The agent grid: a supervisor forces a pause or a logout, or listens to a call (the API checks the role).
  const ACTIONS = { pause: "Pause", unpause: "Reprendre", logout: "Déconnecter", listen: "Écouter" };
  async function act(line, action) {
    const result = document.getElementById("agent-result");
    const body = action === "pause" ? { reason: "pause superviseur" } : action === "listen" ? { mode: "listen" } : undefined;
    const r = await send("POST", "/api/agents/" + encodeURIComponent(line) + "/" + action, body);
    const done = action === "listen" ? "écoute demandée : votre poste de supervision va sonner" : "fait";
    result.textContent = line + " — " + ACTIONS[action] + " : " +
      (r.ok ? done : "refusé (" + ((r.data && (r.data.message || r.data.error)) || r.status) + ")");
  }
  function actionButtons(a) {
    const wanted = [];
    if (a.status === "paused") wanted.push("unpause");
    else if (a.status !== "logged_out" && a.status !== "unavailable") wanted.push("pause");
    if (a.status !== "logged_out") wanted.push("logout");
    if (a.status === "busy") wanted.push("listen");
    return wanted.map((action) => el("button", { type: "button", class: "act-" + action,
      "data-action": action, ariaLabel: ACTIONS[action] + " " + a.line, onclick: () => act(a.line, action) },
    ACTIONS[action]));
  }
  function renderAgents(board) {
    const body = document.getElementById("agent-rows");
    if (!body) return;
    body.replaceChildren(...board.agents.map(function (a) {
      const since = a.seconds_in_status === null ? "" : a.seconds_in_status;
      return el("tr", { "data-line": a.line }, el("th", { scope: "row" }, a.line), el("td", {}, a.partner),
        el("td", { class: "state" }, labels[a.status] || a.status),
        el("td", { class: "since", "data-since": since }, clock(a.seconds_in_status)),
        el("td", { class: "taken" }, a.calls_today), el("td", { class: "reason" }, a.paused_reason),
        el("td", { class: "actions-cell" }, ...actionButtons(a)));
    }));
  }

  // Two or more Asterisk nodes: each node's state (the server writes the French text); the strip
  // exists only when the page was served with 2+ nodes, and the set of nodes does not change live.
  function renderNodes(board) {
    const strip = document.getElementById("nodes");
    if (!strip) return;
    strip.replaceChildren(...(board.nodes || []).map((n) => el("span",
      { class: "node " + (n.synced ? "node-up" : "node-down"), "data-node": n.node }, n.text)));
  }

  function render(board) {
    receivedAt = Date.now();
    thresholds = board.thresholds || {};
    for (const [name, level] of Object.entries(board.levels || {})) setLevel(name, level);
    renderAlarms(board.alarms || []);
    document.getElementById("lines-free").textContent = board.lines_free;
    document.getElementById("wallboard").setAttribute("data-version", board.version);
    document.getElementById("total-waiting").textContent = board.waiting;
    const longest = document.getElementById("longest");
    longest.setAttribute("data-wait", board.longest_wait_seconds);
    longest.textContent = clock(board.longest_wait_seconds);
    document.getElementById("sl").textContent = percent(board.service_level_today);
    const overall = slCounts(board.answered_within_threshold_today, board.offered_today,
      board.waiting_past_threshold, board.service_level_seconds);
    document.getElementById("sl-counts").textContent = overall ? "(" + overall + ")" : "";
    document.getElementById("sync").replaceChildren(board.synced ? "" :
      el("p", { class: "warn" }, "État en cours de resynchronisation"));
    renderNodes(board);
    renderQueues(board);
    renderPartners(board);
    renderAgents(board);
  }

  // Waits tick every second between messages; they stand still while the stream is down (stale).
  setInterval(function () {
    if (document.body.classList.contains("stale")) return;
    const extra = (Date.now() - receivedAt) / 1000;
    for (const node of document.querySelectorAll("[data-wait]")) {
      const base = Number(node.getAttribute("data-wait"));
      if (base > 0 || node.closest("ol.callers")) node.textContent = clock(base + extra);
    }
    // Time in state ticks too, except a wrap-up's, which counts down (seconds left).
    for (const node of document.querySelectorAll("#agent-rows [data-since]")) {
      const raw = node.getAttribute("data-since");
      if (raw === "") continue;
      const wrapup = node.parentNode.querySelector(".state").textContent === (labels.wrapup || "wrapup");
      node.textContent = clock(wrapup ? Math.max(0, Number(raw) - extra) : Number(raw) + extra);
    }
    if (thresholds.longest_wait_alarm_seconds !== undefined) {
      for (const cell of document.querySelectorAll("#queue-rows td.longest")) {
        const base = Number(cell.getAttribute("data-wait"));
        if (base > 0) cell.className = "longest lvl-" + waitLevel(base + extra);
      }
    }
    const longest = document.getElementById("longest");
    if (thresholds.longest_wait_alarm_seconds !== undefined && longest) {
      const base = Number(longest.getAttribute("data-wait"));
      if (base > 0) {
        const level = waitLevel(base + extra);
        const node = document.getElementById("fig-longest_wait");
        if (node && !node.classList.contains("lvl-" + level)) setLevel("longest_wait", level);
      }
    }
  }, 1000);

  // Every message is the whole board: the first one after a reconnect resyncs the page.
  window.aig.live("/api/live/stream", { wallboard: render });
})();
