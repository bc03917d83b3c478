// Dispatch console: live board over server-sent events, alarm sound, live alert panel.
// No inline scripts (the CSP forbids them); every text shown comes from the server's templates.
"use strict";

(function () {
  const body = document.body;
  const csrf = () => (document.querySelector('input[name="csrf_token"]') || {}).value || "";

  // Fetch a server-rendered fragment; a lost session sends the operator to sign-in.
  async function fragment(url) {
    const response = await fetch(url, { headers: { "X-Fragment": "1" }, credentials: "same-origin" });
    if (response.status === 401) { window.location.assign("/console/login?next=" + encodeURIComponent(window.location.pathname)); return null; }
    if (!response.ok) { throw new Error("HTTP " + response.status); }
    return response.text();
  }

  // Elapsed times tick locally; the server renders the first value.
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-since]").forEach((el) => {
      const start = Date.parse(el.dataset.since);
      if (isNaN(start)) return;
      let s = Math.max(0, Math.floor((now - start) / 1000));
      const h = Math.floor(s / 3600); s -= h * 3600;
      const m = Math.floor(s / 60); s -= m * 60;
      const pad = (n) => String(n).padStart(2, "0");
      el.textContent = h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
    });
  }

  // One event stream per page; EventSource reconnects by itself and we re-read on every open.
  function live(onChange, onOpen) {
    const status = document.getElementById("live-status");
    const source = new EventSource("/console/events");
    source.addEventListener("open", () => { if (status) { status.textContent = status.dataset.online; status.classList.remove("offline"); } onOpen(); });
    source.addEventListener("error", () => { if (status) { status.textContent = status.dataset.offline; status.classList.add("offline"); } });
    source.addEventListener("refresh", () => onOpen());
    source.addEventListener("alert", (e) => { try { onChange(JSON.parse(e.data)); } catch (err) { onOpen(); } });
    return source;
  }

  // --- alarm sound and title flashing, while an urgent alarm is not taken -------------------
  const alarm = { audio: null, flashing: null, title: document.title };
  function startAlarm() {
    if (!alarm.audio) { alarm.audio = new Audio("/console/static/alarm.wav"); alarm.audio.loop = true; }
    const played = alarm.audio.play();
    const button = document.getElementById("sound-enable");
    if (played && played.catch) {
      // Browsers refuse sound before the operator has touched the page: offer a button.
      played.then(() => { if (button) button.hidden = true; body.dataset.sound = "playing"; })
        .catch(() => { if (button) button.hidden = false; body.dataset.sound = "blocked"; });
    }
    if (!alarm.flashing) {
      let on = false;
      alarm.flashing = setInterval(() => { on = !on; document.title = on ? body.dataset.flash + " " + alarm.title : alarm.title; }, 800);
    }
    body.dataset.alarm = "on";
  }
  function stopAlarm() {
    if (alarm.audio) { alarm.audio.pause(); alarm.audio.currentTime = 0; }
    if (alarm.flashing) { clearInterval(alarm.flashing); alarm.flashing = null; }
    document.title = alarm.title;
    body.dataset.alarm = "off";
    body.dataset.sound = "off";
  }
  function checkUrgent() {
    if (document.querySelector('tr[data-urgent="1"]')) startAlarm(); else stopAlarm();
  }

  function board() {
    const rows = document.getElementById("board-rows");
    let pending = null;
    let running = false;
    async function refresh() {
      // Coalesce bursts (a multi-alarm incident) into one read.
      if (running) { pending = true; return; }
      running = true;
      try {
        const html = await fragment("/console/board/rows");
        if (html !== null) { rows.innerHTML = html; tick(); checkUrgent(); body.dataset.refreshed = String(Date.now()); }
      } catch (err) { /* the next event or the safety poll retries */ }
      running = false;
      if (pending) { pending = null; refresh(); }
    }
    const button = document.getElementById("sound-enable");
    if (button) button.addEventListener("click", () => { button.hidden = true; checkUrgent(); });
    live(() => refresh(), () => refresh());
    setInterval(refresh, 30000); // safety net if a proxy silently drops the stream
    checkUrgent();
  }

  function alertView() {
    const id = body.dataset.alertId;
    const panel = document.getElementById("alert-live");
    async function refresh() {
      try {
        const html = await fragment("/console/alerts/" + id + "/live");
        if (html !== null) { panel.innerHTML = html; tick(); }
      } catch (err) { /* retried on the next event */ }
    }
    live((change) => { if (String(change.alert_id) === id) refresh(); }, () => refresh());
  }

  // A sweep page: re-read on every alert change (9 and not reached open alerts) and every few
  // seconds while it runs (a resident who pressed 1 changes no alert).
  function sweepView() {
    const id = body.dataset.sweepId;
    const panel = document.getElementById("sweep-live");
    async function refresh() {
      try {
        const html = await fragment("/console/sweeps/" + id + "/live");
        if (html !== null) { panel.innerHTML = html; body.dataset.refreshed = String(Date.now()); }
      } catch (err) { /* retried on the next event or poll */ }
    }
    live(() => refresh(), () => refresh());
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

  setInterval(tick, 1000);
  tick();
  if (body.dataset.live === "board") board();
  if (body.dataset.live === "alert") alertView();
  if (body.dataset.live === "sweep") sweepView();
  window.consoleCsrf = csrf;
})();
