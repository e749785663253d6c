// Live wallboard: one EventSource; every message re-renders queues and lines (text nodes only).
"use strict";
(function () {
  const { el, clock, percent, json } = window.aig;
  const labels = json("labels") || {};
  let receivedAt = Date.now();

  function renderQueues(board) {
    const body = document.getElementById("queue-rows");
    const rows = board.queues.map(function (q) {
      const callers = el("ol", { class: "callers" }, ...q.callers.map(function (c) {
        return el("li", {}, el("span", { class: "num" }, c.number), " ", el("span", { class: "name" }, c.name), " ",
          el("span", { class: "wait", "data-wait": c.waited_seconds }, clock(c.waited_seconds)));
      }));
      return el("tr", { "data-queue": q.name, class: q.waiting ? "hot" : "" },
        el("th", {}, q.name), el("td", { class: "waiting" }, q.waiting),
        el("td", { class: "longest", "data-wait": q.longest_wait_seconds }, clock(q.longest_wait_seconds)),
        el("td", {}, clock(q.expected_wait_seconds)), el("td", {}, q.lines_available + "/" + q.lines_staffed),
        el("td", {}, percent(q.service_level_today), " ", el("small", {}, "(" + q.answered_today + "/" + q.offered_today + ")")),
        el("td", {}, callers));
    });
    body.replaceChildren(...rows);
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

  function render(board) {
    receivedAt = Date.now();
    document.getElementById("wallboard").setAttribute("data-version", board.version);
    document.getElementById("total-waiting").textContent = board.waiting;
    const longest = document.getElementById("longest");
    longest.setAttribute("data-wait", board.longest_wait_seconds);
    longest.textContent = clock(board.longest_wait_seconds);
    document.getElementById("sl").textContent = percent(board.service_level_today);
    document.getElementById("sync").replaceChildren(board.synced ? "" :
      el("p", { class: "warn" }, "État en cours de resynchronisation"));
    renderQueues(board);
    renderPartners(board);
  }

  // Waits tick every second between messages.
  setInterval(function () {
    const extra = (Date.now() - receivedAt) / 1000;
    for (const node of document.querySelectorAll("[data-wait]")) {
      const base = Number(node.getAttribute("data-wait"));
      if (base > 0 || node.closest("ol.callers")) node.textContent = clock(base + extra);
    }
  }, 1000);

  const source = new EventSource("/api/live/stream");
  source.addEventListener("wallboard", function (event) { render(JSON.parse(event.data)); });
  source.onerror = function () { document.body.classList.add("stale"); };
  source.onopen = function () { document.body.classList.remove("stale"); };
})();
