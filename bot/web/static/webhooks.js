// Admin: outgoing webhooks — register, remove, and see how each delivery went.
"use strict";
(() => {
  const { api, el } = deskbot;
  const $ = (id) => document.getElementById(id);
  let shown = null;
  function say(error, done) {
    $("hooks-error").textContent = error ? error.message || String(error) : "";
    $("hooks-done").textContent = done || "";
  }

  async function load() {
    const data = await api("GET", "/api/webhooks");
    if (!$("hook-events").querySelector("input")) {
      $("hook-events").append(...data.events.map((name) => el("label", { class: "check" },
        el("input", { type: "checkbox", value: name, checked: name !== "message.created" }), name)));
    }
    $("hooks").replaceChildren(...data.webhooks.map((hook) => el("tr", { "data-hook": hook.id },
      el("td", {}, el("button", { class: "link", onclick: () => deliveries(hook) }, hook.url)),
      el("td", {}, hook.events.join(", ")),
      el("td", {}, hook.created_at.slice(0, 16).replace("T", " ")),
      el("td", {}, el("button", { class: "small danger", onclick: async () => {
        try { await api("DELETE", "/api/webhooks/" + hook.id); say(null, "Removed " + hook.url + "."); load(); } catch (error) { say(error); }
      } }, "Remove")))));
    if (!data.webhooks.length) $("hooks").append(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No webhooks yet.")));
    if (shown) deliveries(shown);
  }

  async function deliveries(hook) {
    shown = hook;
    const data = await api("GET", "/api/webhooks/" + hook.id + "/deliveries");
    $("deliveries-title").textContent = "Deliveries to " + hook.url;
    $("deliveries").replaceChildren(...data.deliveries.map((d) => el("tr", { class: "delivery " + d.status },
      el("td", {}, String(d.id)), el("td", {}, d.event), el("td", {}, d.status), el("td", {}, String(d.attempts)),
      el("td", {}, d.last_error || (d.last_status ? String(d.last_status) : "—")),
      el("td", {}, d.created_at.slice(0, 19).replace("T", " ")))));
  }

  $("add-hook").addEventListener("submit", async (event) => {
    event.preventDefault();
    const events = [...$("hook-events").querySelectorAll("input:checked")].map((box) => box.value);
    try {
      const hook = await api("POST", "/api/webhooks", { url: $("hook-url").value.trim(), events });
      $("hook-url").value = "";
      $("hook-secret").textContent = "Signing secret for " + hook.url + " (shown once, keep it on your server): " + hook.secret;
      say(null, "Added " + hook.url + ".");
      shown = hook;
      load();
    } catch (error) { say(error); }
  });

  load().catch(say);
  setInterval(() => { if (shown) deliveries(shown).catch(() => {}); }, 5000);
})();
