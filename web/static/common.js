// Shared helpers: CSRF-carrying fetch, element builder (text only: never innerHTML).
"use strict";
window.aig = (function () {
  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  async function send(method, url, body) {
    const init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, ok: response.ok, data: data };
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function percent(value) { return value === null || value === undefined ? "—" : Math.round(value * 100) + " %"; }
  // A live event stream that survives any server error. EventSource gives up for good when a reconnect
  // answers an error status (a 500, a 503 while the database is down), so on any error this one is closed
  // and a new one opened with backoff (1 s doubling up to 15 s), forever, once /api/me answers (401: the
  // session is gone, back to the login page). While down, a banner says so and <body> carries "stale"
  // (wait timers stand still); the server's first message on a new stream is a full snapshot (resync).
  //
  // One stream per browser, not per tab (HTTP/1.1 allows 6 connections per host: a 7th tab never loaded).
  // The tabs showing the same stream elect a leader with a Web Lock named after the URL; the leader holds
  // the EventSource and repeats every message (and "stale") on a BroadcastChannel of the same name; a new
  // tab says "hello" and the leader repeats the latest message of each kind. When the leading tab closes,
  // its lock is released and the next tab takes over with a fresh stream (a snapshot first). Where Web
  // Locks or BroadcastChannel are missing (plain http off loopback: not a secure context), each tab streams.
  const RETRY_FIRST = 1000, RETRY_MAX = 15000;
  function connect(url, names, sink) {
    let delay = RETRY_FIRST, timer = null;
    function schedule() {
      if (timer !== null) return;
      timer = setTimeout(retry, delay);
      delay = Math.min(delay * 2, RETRY_MAX);
    }
    async function retry() {
      timer = null;
      let status = 0;
      try {
        status = (await fetch("/api/me", { credentials: "same-origin", cache: "no-store" })).status;
      } catch (e) { status = 0; }
      if (status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
      } else if (status === 200) {
        open();
      } else {
        schedule();
      }
    }
    function open() {
      const source = new EventSource(url);
      for (const name of names) {
        source.addEventListener(name, function (event) {
          delay = RETRY_FIRST;
          sink.event(name, JSON.parse(event.data));
        });
      }
      source.onerror = function () { source.close(); sink.stale(); schedule(); };
    }
    open();
  }
  function live(url, handlers) {
    const banner = el("p", { id: "connection-lost", class: "connection-lost", role: "alert", hidden: true },
      "Connexion perdue, nouvelle tentative…");
    (document.querySelector("main") || document.body).prepend(banner);
    function stale(on) { banner.hidden = !on; document.body.classList.toggle("stale", on); }
    function deliver(name, data) {
      stale(false);
      if (handlers[name]) handlers[name](data);
    }
    const names = Object.keys(handlers);
    if (typeof BroadcastChannel !== "function" || !navigator.locks) {
      connect(url, names, { event: deliver, stale: function () { stale(true); } });
      return;
    }
    const key = "aiguilleur-live:" + url;
    const channel = new BroadcastChannel(key);
    const latest = {};
    let leading = false, down = false;
    channel.onmessage = function (message) {
      const m = message.data || {};
      if (m.kind === "hello") {
        if (!leading) return;
        for (const name of Object.keys(latest)) channel.postMessage({ kind: "event", name: name, data: latest[name] });
        if (down) channel.postMessage({ kind: "stale" });
      } else if (!leading && m.kind === "event" && names.includes(m.name)) {
        deliver(m.name, m.data);
      } else if (!leading && m.kind === "stale") {
        stale(true);
      }
    };
    navigator.locks.request(key, function () {
      leading = true;
      connect(url, names, {
        event: function (name, data) {
          latest[name] = data;
          down = false;
          channel.postMessage({ kind: "event", name: name, data: data });
          deliver(name, data);
        },
        stale: function () {
          down = true;
          channel.postMessage({ kind: "stale" });
          stale(true);
        },
      });
      return new Promise(function () {});  // held for the life of this tab
    });
    channel.postMessage({ kind: "hello" });
  }
  function json(id) { const node = document.getElementById(id); return node ? JSON.parse(node.textContent) : null; }
  return { send: send, el: el, clock: clock, percent: percent, json: json, live: live };
})();
