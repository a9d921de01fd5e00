// Admin: escalation thresholds and weights (live at once), canned responses.
"use strict";
(() => {
  const { api, el } = deskbot;
  const $ = (id) => document.getElementById(id);
  const HELP = {
    fallback_streak_to_escalate: "Escalate after this many messages in a row the bot did not understand.",
    escalate_at: "Escalate when the weighted evidence reaches this score.",
    offer_at: "Offer a person (without escalating) from this score.",
    weight_negative: "Weight of one negative message (times its negativity).",
    weight_negative_streak: "Extra weight per negative message in a row.",
    weight_churn: "Weight of churn risk above the floor.",
    churn_floor: "Churn risk below this counts for nothing.",
    churn_high: "Churn risk from which a customer counts as high risk.",
    weight_tier: "Weight for high-value tiers.",
    weight_topic: "Extra weight on sensitive topics (billing, cancellation).",
    weight_rejected: "Weight when the customer says an answer did not help.",
  };
  let current = {};

  function say(error, done) {
    $("policy-error").textContent = error ? error.message || String(error) : "";
    $("policy-done").textContent = done || "";
  }

  async function loadPolicy() {
    current = await api("GET", "/api/escalation/settings");
    $("policy").replaceChildren(
      ...Object.entries(current).map(([name, value]) => el("label", {},
        name.replaceAll("_", " "),
        typeof value === "boolean"
          ? el("input", { id: "p-" + name, type: "checkbox", ...(value ? { checked: "" } : {}) })
          : el("input", { id: "p-" + name, type: "number", step: name === "fallback_streak_to_escalate" ? "1" : "any", value: String(value), required: true }),
        el("small", { class: "muted" }, HELP[name] || ""))),
      el("button", { type: "submit" }, "Save"));
  }

  $("policy").addEventListener("submit", async (event) => {
    event.preventDefault();
    const change = {};
    for (const name of Object.keys(current)) {
      const input = $("p-" + name);
      const value = typeof current[name] === "boolean" ? input.checked : Number(input.value);
      if (value !== current[name]) change[name] = value;
    }
    if (!Object.keys(change).length) { say(null, "Nothing changed."); return; }
    try {
      await api("PATCH", "/api/escalation/settings", change);
      await loadPolicy();
      say(null, "Saved: " + Object.keys(change).join(", ") + ". Live now.");
    } catch (error) { say(error); }
  });

  const HOURS = ["business_hours", "business_timezone", "sla_first_response_s", "sla_resolution_s"];
  async function loadHours() {
    const hours = await api("GET", "/api/escalation/hours");
    for (const name of HOURS) $("h-" + name).value = hours[name];
  }
  $("hours").addEventListener("submit", async (event) => {
    event.preventDefault();
    const change = {};
    for (const name of HOURS) {
      const raw = $("h-" + name).value.trim();
      change[name] = name.endsWith("_s") ? Number(raw) : raw;
    }
    try {
      await api("PATCH", "/api/escalation/hours", change);
      await loadHours();
      say(null, "Saved business hours and SLA targets. Live now for new escalations.");
    } catch (error) { say(error); }
  });

  const MODES = { manual: "manual (agents pick)", least_loaded: "least loaded", round_robin: "round robin" };
  const modeSelect = (id, value, extra) => el("select", { id },
    ...[...(extra ? [["", extra]] : []), ...Object.entries(MODES)].map(([v, label]) => el("option", { value: v, selected: v === value }, label)));
  async function loadAssignment() {
    const [current, people] = await Promise.all([api("GET", "/api/assignment"), api("GET", "/api/colleagues")]);
    $("a-default").replaceChildren(...modeSelect("x", current.default).children);
    const teams = [...new Set([...people.teams, ...Object.keys(current.teams)])].sort();
    $("a-teams").replaceChildren(...teams.map((team) => el("label", {}, "Team " + team,
      modeSelect("a-team-" + team, current.teams[team] || "", "as above"))));
  }
  $("assignment").addEventListener("submit", async (event) => {
    event.preventDefault();
    const teams = {};
    for (const select of $("a-teams").querySelectorAll("select")) {
      if (select.value) teams[select.id.slice("a-team-".length)] = select.value;
    }
    try {
      await api("PATCH", "/api/assignment", { default: $("a-default").value, teams });
      await loadAssignment();
      say(null, "Saved assignment. Waiting chats follow it within seconds.");
    } catch (error) { say(error); }
  });

  const LANGUAGES = ["en", "zh"];
  const SWITCHES = ["prechat_form", "ask_email_when_away"];
  async function loadWebchat() {
    const widget = await api("GET", "/api/webchat/settings");
    for (const lang of LANGUAGES) $("w-welcome-" + lang).value = widget.welcome[lang] || "";
    for (const name of SWITCHES) $("w-" + name).checked = widget[name];
  }
  $("webchat").addEventListener("submit", async (event) => {
    event.preventDefault();
    const change = { welcome: {} };
    for (const lang of LANGUAGES) change.welcome[lang] = $("w-welcome-" + lang).value.trim();
    for (const name of SWITCHES) change[name] = $("w-" + name).checked;
    try {
      await api("PATCH", "/api/webchat/settings", change);
      await loadWebchat();
      say(null, "Saved the web chat settings. New visitors see them now.");
    } catch (error) { say(error); }
  });

  function cannedSays(error) {  // next to its form, not at the top of the page
    $("canned-error").textContent = error ? error.message || String(error) : "";
  }

  async function loadCanned() {
    const data = await api("GET", "/api/canned-responses");
    $("canned-list").replaceChildren(...data.responses.map((c) => el("li", {},
      el("b", {}, "/" + c.shortcut + " "), c.text, " ",
      el("button", { class: "small danger", onclick: async () => {
        try { await api("DELETE", "/api/canned-responses/" + c.id); loadCanned(); } catch (error) { cannedSays(error); }
      } }, "Delete"))));
  }

  $("canned-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/api/canned-responses", { shortcut: $("canned-shortcut").value.trim(), text: $("canned-text").value.trim() });
      $("canned-shortcut").value = ""; $("canned-text").value = "";
      cannedSays(null);
      loadCanned();
    } catch (error) { cannedSays(error); }
  });

  loadPolicy().catch(say);
  loadHours().catch(say);
  loadCanned().catch(say);
  loadWebchat().catch(say);
  loadAssignment().catch(say);
})();
