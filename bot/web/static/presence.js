// Tells the server this agent is at their desk: a beat every 20 s while a staff page is open,
// marked active when they used it since the last beat, and "gone" when the last open page of
// theirs closes. The queue counts only agents whose pages beat and are in use.
"use strict";
(() => {
  const BEAT_MS = 20000;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const headers = { "X-CSRF-Token": csrf, "Content-Type": "application/json" };
  let used = true; // opening a page is using it
  const mark = () => { used = true; };
  for (const type of ["keydown", "pointerdown", "wheel", "touchstart", "focus"]) {
    addEventListener(type, mark, { passive: true, capture: true });
  }
  let moved = 0;
  addEventListener("mousemove", () => {
    const now = Date.now();
    if (now - moved > 5000) { moved = now; used = true; }
  }, { passive: true });

  // Other open tabs of this browser: closing one of several is not leaving.
  const me = Math.random().toString(36).slice(2);
  const others = new Map();
  const tabs = "BroadcastChannel" in window ? new BroadcastChannel("deskbot-presence") : null;
  if (tabs) {
    tabs.onmessage = (event) => {
      if (event.data.gone) others.delete(event.data.tab);
      else others.set(event.data.tab, Date.now());
    };
  }
  const anotherTabOpen = () => [...others.values()].some((at) => Date.now() - at < BEAT_MS + 5000);

  async function beat() {
    const active = used;
    used = false;
    if (tabs) tabs.postMessage({ tab: me });
    try {
      const response = await fetch("/api/me/presence", {
        method: "POST", headers, credentials: "same-origin", body: JSON.stringify({ active }),
      });
      if (response.ok) {
        const { presence } = await response.json();
        document.dispatchEvent(new CustomEvent("deskbot:presence", { detail: presence }));
      }
    } catch (_) { /* offline for now; the next beat tries again */ }
  }

  beat();
  // The page this one replaced said "gone" as it closed; if that arrives after our first
  // beat, the second puts it right.
  setTimeout(beat, 2000);
  setInterval(beat, BEAT_MS);
  addEventListener("pagehide", () => {
    if (tabs) tabs.postMessage({ tab: me, gone: true });
    if (anotherTabOpen()) return;
    fetch("/api/me/presence", {
      method: "POST", headers, credentials: "same-origin", keepalive: true,
      body: JSON.stringify({ gone: true }),
    }).catch(() => {});
  });
})();
