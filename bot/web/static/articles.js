// Help-centre articles admin page: list, search, create, edit, delete, import, try a question.
"use strict";
(() => {
  const { api, el } = deskbot;
  const $ = (id) => document.getElementById(id);
  let editing = null;

  function say(error, done) {
    $("article-error").textContent = error || "";
    $("article-done").textContent = done || "";
  }

  async function load() {
    const params = new URLSearchParams();
    if ($("q").value.trim()) params.set("q", $("q").value.trim());
    if ($("language").value) params.set("language", $("language").value);
    const data = await api("GET", "/api/articles?" + params.toString());
    $("articles").replaceChildren(...data.articles.map((a) =>
      el("tr", {},
        el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); open(a.id); } }, a.title)),
        el("td", {}, a.slug),
        el("td", {}, a.language),
        el("td", {}, a.passages.length),
        el("td", {}, a.enabled ? "yes" : "no"))));
  }

  function show(article) {
    editing = article;
    $("editor").hidden = false;
    $("editor-title").textContent = article ? "Edit article" : "New article";
    $("f-title").value = article ? article.title : "";
    $("f-slug").value = article ? article.slug : "";
    $("f-slug").disabled = !!article;
    $("f-language").value = article ? article.language : "en";
    $("f-language").disabled = !!article;
    $("f-url").value = article && article.url ? article.url : "";
    $("f-enabled").checked = article ? article.enabled : true;
    $("f-body").value = article ? article.body : "";
    $("delete").hidden = !article;
    $("passages").replaceChildren(...(article ? article.passages : []).map((p) =>
      el("li", {}, p.heading ? el("strong", {}, p.heading + ": ") : null, p.text)));
  }

  async function open(id) {
    say();
    try { show(await api("GET", "/api/articles/" + id)); } catch (error) { say(error.message); }
  }

  $("search").addEventListener("submit", (event) => { event.preventDefault(); load().catch((e) => say(e.message)); });
  $("new").addEventListener("click", () => { say(); show(null); $("f-title").focus(); });
  $("cancel").addEventListener("click", () => { $("editor").hidden = true; editing = null; });

  $("editor").addEventListener("submit", async (event) => {
    event.preventDefault();
    say();
    const url = $("f-url").value.trim() || null;
    try {
      let saved;
      if (editing) {
        saved = await api("PATCH", "/api/articles/" + editing.id,
          { title: $("f-title").value, body: $("f-body").value, url, enabled: $("f-enabled").checked },
          { "If-Match": String(editing.version) });
      } else {
        saved = await api("POST", "/api/articles", {
          slug: $("f-slug").value.trim(), language: $("f-language").value, title: $("f-title").value,
          body: $("f-body").value, url, enabled: $("f-enabled").checked,
        });
      }
      show(saved);
      say("", "Saved: " + saved.passages.length + " passages, searchable now.");
      await load();
    } catch (error) { say(error.message); }
  });

  $("delete").addEventListener("click", async () => {
    if (!editing || !confirm("Delete “" + editing.title + "”?")) return;
    try {
      await api("DELETE", "/api/articles/" + editing.id);
      $("editor").hidden = true;
      editing = null;
      say("", "Deleted.");
      await load();
    } catch (error) { say(error.message); }
  });

  // Each chosen file (or every article file in a chosen folder) is one import call.
  async function importFiles(input) {
    const files = [...input.files].filter((f) => /\.(md|markdown|html?|txt|csv|zip)$/i.test(f.name));
    const totals = {};
    try {
      for (const file of files) {
        const bytes = new Uint8Array(await file.arrayBuffer());
        let binary = "";
        for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        const name = file.webkitRelativePath || file.name;
        const counts = await api("POST", "/api/articles/import", { filename: name, content_base64: btoa(binary) });
        for (const [k, v] of Object.entries(counts)) totals[k] = (totals[k] || 0) + v;
      }
      $("import-result").textContent = files.length + " files: " + Object.entries(totals).map(([k, v]) => k + " " + v).join(", ");
      await load();
    } catch (error) { $("import-result").textContent = error.message; }
    input.value = "";
  }
  $("import-file").addEventListener("change", () => importFiles($("import-file")));
  $("import-folder").addEventListener("change", () => importFiles($("import-folder")));

  $("try").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("try-text").value.trim();
    if (!text) return;
    try {
      const found = await api("POST", "/api/articles/search", { text });
      const verdict = found.answers ? "The bot would answer with the first passage" : "The bot would not answer (below the threshold)";
      $("hits").replaceChildren(
        el("li", { class: "muted" }, verdict + " · confidence " + Math.round(found.probability * 100) + "%"),
        ...found.hits.map((h) => el("li", {}, el("strong", {}, h.title), h.heading ? " › " + h.heading : "", el("br"), h.text)));
    } catch (error) { say(error.message); }
  });

  load().catch((e) => say(e.message));
})();
