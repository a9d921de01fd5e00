// Admin: FAQ intents — search, create, edit per language, enable/disable, delete, try it, retrain, import.
"use strict";
(() => {
  const { api, el } = deskbot;
  const $ = (id) => document.getElementById(id);
  let editing = null;  // the intent being edited (with its version), or null for a new one
  let watchTimer = null;

  const lines = (text) => text.split("\n").map((t) => t.trim()).filter(Boolean);
  function say(error, done) {
    $("faq-error").textContent = error ? error.message || String(error) : "";
    $("faq-done").textContent = done || "";
  }

  async function loadList() {
    try {
      const q = $("q").value.trim();
      const data = await api("GET", "/api/intents" + (q ? "?q=" + encodeURIComponent(q) : ""));
      $("intents").replaceChildren(...data.intents.map((intent) => el("tr", { "data-intent": intent.name },
        el("td", {}, el("button", { class: "link", onclick: () => edit(intent.name) }, intent.name)),
        el("td", {}, intent.category),
        el("td", {}, Object.values(intent.examples).reduce((n, list) => n + list.length, 0)),
        el("td", {}, el("input", { type: "checkbox", checked: intent.enabled, "aria-label": "enabled " + intent.name,
          onchange: (event) => toggle(intent, event.target.checked) })))));
    } catch (error) { say(error); }
  }

  async function toggle(intent, enabled) {
    try {
      await api("PATCH", "/api/intents/" + intent.name, { enabled }, { "If-Match": String(intent.version) });
      say(null, intent.name + (enabled ? " enabled" : " disabled") + "; the model retrains by itself.");
      loadList(); watchModel();
    } catch (error) { say(error); loadList(); }
  }

  function fill(intent) {
    $("f-name").value = intent ? intent.name : "";
    $("f-name").disabled = !!intent;
    $("f-category").value = intent ? intent.category : "general";
    $("f-enabled").checked = intent ? intent.enabled : true;
    $("f-irreversible").checked = intent ? intent.irreversible : false;
    for (const lang of ["en", "zh"]) {
      $("f-examples-" + lang).value = intent ? (intent.examples[lang] || []).join("\n") : "";
      $("f-answers-" + lang).value = intent ? (intent.answers[lang] || []).join("\n") : "";
    }
    $("editor-title").textContent = intent ? "Edit " + intent.name : "New intent";
    $("delete").hidden = !intent;
    $("editor").hidden = false;
  }

  async function edit(name) {
    try {
      editing = await api("GET", "/api/intents/" + name);
      fill(editing);
      say(null);
      // The editor sits below the list: bring it to the admin, not the other way round.
      $("editor").scrollIntoView({ block: "start", behavior: "smooth" });
      $("f-name").focus({ preventScroll: true });
    } catch (error) { say(error); }
  }

  function formBody() {
    const texts = (kind) => {
      const out = {};
      for (const lang of ["en", "zh"]) {
        const list = lines($("f-" + kind + "-" + lang).value);
        if (list.length) out[lang] = list;
      }
      return out;
    };
    return { category: $("f-category").value.trim() || "general", examples: texts("examples"),
      answers: texts("answers"), enabled: $("f-enabled").checked,
      irreversible: $("f-irreversible").checked };
  }

  $("editor").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      if (editing) {
        editing = await api("PATCH", "/api/intents/" + editing.name, formBody(), { "If-Match": String(editing.version) });
      } else {
        editing = await api("POST", "/api/intents", { name: $("f-name").value.trim(), ...formBody() });
      }
      fill(editing);
      say(null, "Saved " + editing.name + " (version " + editing.version + "). The model retrains by itself.");
      loadList(); watchModel();
    } catch (error) { say(error); }
  });
  $("delete").addEventListener("click", async () => {
    if (!editing || !confirm("Delete the intent " + editing.name + "? Customers will no longer get its answer.")) return;
    try {
      await api("DELETE", "/api/intents/" + editing.name);
      say(null, "Deleted " + editing.name + ".");
      editing = null; $("editor").hidden = true; loadList(); watchModel();
    } catch (error) { say(error); }
  });
  $("cancel").addEventListener("click", () => { editing = null; $("editor").hidden = true; });
  $("new").addEventListener("click", () => { editing = null; fill(null); $("f-name").focus(); });
  $("search").addEventListener("submit", (event) => { event.preventDefault(); loadList(); });

  $("try").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("try-text").value.trim();
    if (!text) return;
    try {
      const result = await api("POST", "/api/nlu/parse", { text });
      $("ranking").replaceChildren(
        el("li", { class: "verdict" }, "→ " + result.intent + " (" + result.outcome + ", " + Math.round(result.confidence * 100) + "%)"),
        ...result.ranking.slice(0, 5).map((r) => el("li", {}, r.name + " " + Math.round(r.confidence * 100) + "%")));
    } catch (error) { say(error); }
  });

  async function showModel() {
    const status = await api("GET", "/api/nlu/status");
    $("model-version").textContent = status.model_version || "none";
    $("model-state").textContent = status.training ? "training…" : status.last_train_seconds != null
      ? "live (last training " + status.last_train_seconds.toFixed(1) + " s)" : "live";
    return status;
  }

  // Poll while a retrain is under way (edits retrain after a short debounce).
  function watchModel() {
    clearTimeout(watchTimer);
    let rounds = 0;
    const tick = async () => {
      const before = $("model-version").textContent;
      try {
        const status = await showModel();
        rounds += 1;
        if ((status.training || status.model_version === before) && rounds < 120) watchTimer = setTimeout(tick, 500);
      } catch (error) { say(error); }
    };
    watchTimer = setTimeout(tick, 300);
  }

  $("retrain").addEventListener("click", async () => {
    try {
      $("model-state").textContent = "training…";
      await api("POST", "/api/nlu/train?background=true");
      watchModel();
    } catch (error) { say(error); }
  });

  $("import-file").addEventListener("change", async () => {
    const file = $("import-file").files[0];
    if (!file) return;
    const format = file.name.endsWith(".csv") ? "csv" : "yaml";
    try {
      const counts = await api("POST", "/api/kb/import", { format, content: await file.text() });
      $("import-result").textContent = "Imported " + file.name + ": " + counts.created + " created, " + counts.updated + " updated.";
      loadList(); watchModel();
    } catch (error) { say(error); }
    $("import-file").value = "";
  });

  loadList();
  showModel().catch(say);
})();
