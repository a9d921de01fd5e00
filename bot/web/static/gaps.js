// Content gaps admin page: clusters of unanswered questions; create an intent or add examples.
"use strict";
(() => {
  const { api, el } = deskbot;
  const $ = (id) => document.getElementById(id);

  function say(error, done) {
    $("gap-error").textContent = error || "";
    $("gap-done").textContent = done || "";
  }

  function card(gap) {
    const name = el("input", { value: gap.name, maxlength: "64", pattern: "[a-z][a-z0-9_]*", "aria-label": "Intent name" });
    const answer = el("textarea", { rows: "3", maxlength: "2000", "aria-label": "Answer" }, gap.suggested_answer || "");
    const target = el("input", { value: gap.suggested_intent || "", maxlength: "64", placeholder: "existing intent", "aria-label": "Existing intent" });
    const reasons = Object.entries(gap.reasons).map(([k, v]) => k + " " + v).join(", ");
    const create = async () => {
      say();
      try {
        const made = await api("POST", "/api/gaps/intent", { message_ids: gap.message_ids, name: name.value.trim(), answer: answer.value });
        say("", "Created intent " + made.name + "; the model is retraining.");
        await load();
      } catch (error) { say(error.message); }
    };
    const add = async () => {
      say();
      try {
        const updated = await api("POST", "/api/gaps/examples", { message_ids: gap.message_ids, intent: target.value.trim() });
        say("", "Added the questions to " + updated.name + "; the model is retraining.");
        await load();
      } catch (error) { say(error.message); }
    };
    return el("article", { class: "gap card", "data-key": String(gap.key) },
      el("h2", {}, gap.name, " ", el("span", { class: "muted" }, gap.size + " questions · " + gap.language + " · last " + gap.last_seen.slice(0, 16).replace("T", " ") + " · " + reasons)),
      el("ul", {}, ...gap.examples.map((t) => el("li", {}, t))),
      el("label", {}, "Intent name ", name),
      el("label", {}, "Answer (suggested from agents' replies) ", answer),
      el("div", { class: "row" },
        el("button", { class: "create-intent", onclick: create }, "Create intent"),
        target,
        el("button", { class: "add-examples", onclick: add }, "Add to intent")));
  }

  async function load() {
    const data = await api("GET", "/api/gaps?days=" + encodeURIComponent($("days").value));
    $("gaps").replaceChildren(...(data.clusters.length ? data.clusters.map(card) : [el("p", { class: "muted" }, "No gaps: every question in this period was answered.")]));
    $("weekly").replaceChildren(...data.weekly.map((w) =>
      el("tr", {}, el("td", {}, w.week), el("td", {}, w.questions), el("td", {}, w.in_gaps), el("td", {}, Math.round(w.share * 100) + "%"))));
  }

  $("period").addEventListener("submit", (event) => { event.preventDefault(); load().catch((e) => say(e.message)); });
  load().catch((e) => say(e.message));
})();
