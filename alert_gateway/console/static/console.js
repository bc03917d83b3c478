// Dispatch console: live board over server-sent events, the alarm on every page, live alert panel.
// No inline scripts (the CSP forbids them); every text shown comes from the server's templates.
"use strict";

(function () {
  const body = document.body;
  const csrf = () => (document.querySelector('input[name="csrf_token"]') || {}).value || "";
  const toSignIn = () => window.location.assign("/console/login?next=" + encodeURIComponent(window.location.pathname));

  // Fetch from the console; a lost session sends the operator to sign-in.
  async function get(url) {
    const response = await fetch(url, { headers: { "X-Fragment": "1" }, credentials: "same-origin" });
    if (response.status === 401) { toSignIn(); return null; }
    if (!response.ok) { throw new Error("HTTP " + response.status); }
    return response;
  }
  async function fragment(url) {
    const response = await get(url);
    return response === null ? null : response.text();
  }

  // Run `work` once for a burst of calls (a multi-alarm incident): one read, then one more if
  // anything arrived meanwhile.
  function coalesced(work) {
    let running = false;
    let pending = false;
    return async function again() {
      if (running) { pending = true; return; }
      running = true;
      try { await work(); } catch (err) { /* the next event or the safety poll retries */ }
      running = false;
      if (pending) { pending = false; again(); }
    };
  }

  // Elapsed times tick locally; the server renders the first value. A closed alert's timer
  // carries data-until and stays at its closing time.
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-since]").forEach((el) => {
      const start = Date.parse(el.dataset.since);
      if (isNaN(start)) return;
      const end = el.dataset.until ? Date.parse(el.dataset.until) : now;
      let s = Math.max(0, Math.floor((end - start) / 1000));
      const h = Math.floor(s / 3600); s -= h * 3600;
      const m = Math.floor(s / 60); s -= m * 60;
      const pad = (n) => String(n).padStart(2, "0");
      el.textContent = h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
    });
  }

  // One event stream per page; the board, the alert panel and the alarm all listen to it.
  // EventSource reconnects by itself and every listener re-reads on each open.
  const listeners = { change: [], open: [] };
  function stream() {
    const status = document.getElementById("live-status");
    const source = new EventSource("/console/events");
    const reread = () => listeners.open.forEach((f) => f());
    let opened = false; // the stream's first frame is a "refresh" the opening re-read has served
    source.addEventListener("open", () => { opened = true; body.dataset.stream = "open"; if (status) { status.textContent = status.dataset.online; status.classList.remove("offline"); } reread(); });
    source.addEventListener("error", () => { body.dataset.stream = "lost"; if (status) { status.textContent = status.dataset.offline; status.classList.add("offline"); } });
    // "re-read" from the server (a missed stretch, or a storm's burst): as any change, so the
    // board's throttle holds (a re-read per burst would be back to back in a storm)
    source.addEventListener("refresh", () => {
      if (opened) { opened = false; return; }
      listeners.change.forEach((f) => f(null));
    });
    source.addEventListener("alert", (e) => {
      let change;
      try { change = JSON.parse(e.data); } catch (err) { reread(); return; }
      listeners.change.forEach((f) => f(change));
    });
  }

  // --- the alarm: sound and title flash while an urgent alarm is not taken, on every page -------
  const alarm = { audio: null, flashing: null, title: document.title, on: false };
  const soundWanted = body.dataset.soundPref === "on"; // the operator's choice, kept by the server
  function sound() {
    const button = document.getElementById("sound-enable");
    if (!soundWanted) { body.dataset.sound = "off"; return; }
    if (!alarm.audio) { alarm.audio = new Audio("/console/static/alarm.wav"); alarm.audio.loop = true; }
    const played = alarm.audio.play();
    if (played && played.then) {
      // A browser refuses sound on a page nobody has touched yet: say so, visibly.
      played.then(() => { if (button) button.hidden = true; body.dataset.sound = "playing"; })
        .catch(() => { if (button) button.hidden = false; body.dataset.sound = "blocked"; });
    }
  }
  function setAlarm(on) {
    if (on === alarm.on) return;
    alarm.on = on;
    body.dataset.alarm = on ? "on" : "off";
    if (on) {
      sound();
      let lit = false;
      alarm.flashing = setInterval(() => { lit = !lit; document.title = lit ? body.dataset.flash + " " + alarm.title : alarm.title; }, 800);
      return;
    }
    if (alarm.audio) { alarm.audio.pause(); alarm.audio.currentTime = 0; }
    clearInterval(alarm.flashing);
    alarm.flashing = null;
    document.title = alarm.title;
    const button = document.getElementById("sound-enable");
    if (button) button.hidden = true;
    body.dataset.sound = soundWanted ? "ready" : "off";
  }
  // Any touch of the page is the gesture the browser waits for: a blocked alarm sounds then.
  const unblock = () => { if (alarm.on && body.dataset.sound === "blocked") sound(); };
  document.addEventListener("pointerdown", unblock);
  document.addEventListener("keydown", unblock);

  // The board is re-read on changes at most once a second, the first change after a quiet
  // second at once: in a storm three boards re-reading back to back (each read 0.2-0.9 s of a
  // busy loop) delayed the last P1's first call from 8.9 to 10.0-10.3 s (bench.storm).
  const BOARD_GAP_MS = 1000;

  function watchElsewhere() {
    // Not on the board: ask the board whether anything urgent is waiting.
    const check = throttled(BOARD_GAP_MS, async () => {
      const response = await get("/console/api/board");
      if (response === null) return;
      const board = await response.json();
      setAlarm(board.alerts.some((a) => a.urgent));
    });
    listeners.change.push(check);
    listeners.open.push(check.now);
    setInterval(check.now, 30000); // safety net if a proxy silently drops the stream
  }

  function board() {
    const rows = document.getElementById("board-rows");
    const urgentShown = () => setAlarm(Boolean(document.querySelector('tr[data-urgent="1"]')));
    const refresh = throttled(BOARD_GAP_MS, async () => {
      const html = await fragment("/console/board/rows");
      if (html !== null) { rows.innerHTML = html; tick(); urgentShown(); body.dataset.refreshed = String(Date.now()); }
    });
    listeners.change.push(refresh);
    listeners.open.push(refresh.now);
    setInterval(refresh.now, 30000); // safety net if a proxy silently drops the stream
    urgentShown();
  }

  function alertView() {
    const id = body.dataset.alertId;
    const panel = document.getElementById("alert-live");
    const refresh = coalesced(async () => {
      const html = await fragment("/console/alerts/" + id + "/live");
      if (html !== null) { panel.innerHTML = html; tick(); body.dataset.refreshed = String(Date.now()); }
    });
    listeners.change.push((change) => { if (change === null || String(change.alert_id) === id) refresh(); });
    listeners.open.push(refresh);
  }

  // `work` at most once a `ms`: a call meanwhile runs it once when the time is up. `.now()`
  // runs it at once without counting against the gap (the stream opened, the safety poll), so
  // the first change after a quiet spell is shown at once.
  function throttled(ms, work) {
    const run = coalesced(work);
    let last = 0;
    let timer = null;
    const soon = function () {
      if (timer !== null) return;
      const wait = last + ms - Date.now();
      if (wait <= 0) { last = Date.now(); run(); return; }
      timer = setTimeout(() => { timer = null; last = Date.now(); run(); }, wait);
    };
    soon.now = run;
    return soon;
  }

  // A sweep page: re-read on alert changes (9 and not reached open alerts), at most once a
  // second (a city's sweep changes alerts several times a second, and every re-read is work on
  // the gateway's loop, where alarms wait), and every few seconds while it runs (a resident who
  // pressed 1 changes no alert).
  function sweepView() {
    const id = body.dataset.sweepId;
    const panel = document.getElementById("sweep-live");
    const refresh = throttled(1000, async () => {
      const html = await fragment("/console/sweeps/" + id + "/live");
      if (html !== null) { panel.innerHTML = html; body.dataset.refreshed = String(Date.now()); }
    });
    listeners.change.push(() => refresh());
    listeners.open.push(() => refresh());
    setInterval(() => {
      const state = document.getElementById("sweep-state");
      if (state && (state.dataset.state === "running" || state.dataset.state === "paused")) refresh();
    }, 5000);
  }
  const printButton = document.getElementById("print-page");
  if (printButton) printButton.addEventListener("click", () => window.print());

  // Ask before resolving without an outcome (the server checks too).
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });
  const enable = document.getElementById("sound-enable");
  if (enable) enable.addEventListener("click", () => { if (alarm.on) sound(); });

  setInterval(tick, 1000);
  tick();
  if (body.dataset.watch === "1") {
    body.dataset.sound = soundWanted ? "ready" : "off";
    body.dataset.alarm = "off";
    if (body.dataset.live === "board") board(); else watchElsewhere();
    if (body.dataset.live === "alert") alertView();
    if (body.dataset.live === "sweep") sweepView();
    stream();
  }
  window.consoleCsrf = csrf;
})();
