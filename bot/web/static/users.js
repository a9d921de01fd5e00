// Admin: users — role, teams, capacity, deactivate, add with a password.
"use strict";
(() => {
  const { api, el } = deskbot;
  const $ = (id) => document.getElementById(id);
  const teamsOf = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);
  function say(error, done) {
    $("users-error").textContent = error ? error.message || String(error) : "";
    $("users-done").textContent = done || "";
  }

  function row(user) {
    const role = el("select", { "aria-label": "role " + user.email },
      ...["agent", "admin"].map((r) => el("option", { value: r, selected: r === user.role }, r)));
    const teams = el("input", { value: user.teams.join(", "), "aria-label": "teams " + user.email });
    const max = el("input", { type: "number", min: "1", max: "50", value: String(user.max_concurrent), "aria-label": "max chats " + user.email });
    const active = el("input", { type: "checkbox", checked: user.active, "aria-label": "active " + user.email });
    const save = el("button", { class: "small", onclick: async () => {
      try {
        await api("PATCH", "/api/agents/" + user.id, { role: role.value, teams: teamsOf(teams.value),
          max_concurrent: Number(max.value), active: active.checked });
        say(null, "Saved " + user.email + ".");
        load();
      } catch (error) { say(error); }
    } }, "Save");
    return el("tr", { "data-user": user.email }, el("td", {}, user.email), el("td", {}, user.name),
      el("td", {}, role), el("td", {}, teams), el("td", {}, max), el("td", {}, presenceOf(user)),
      el("td", {}, active, user.can_sign_in ? "" : " (no sign-in)"), el("td", {}, save));
  }

  // Whether they are there, and their own choice when it says otherwise.
  function presenceOf(user) {
    return user.presence === user.status ? user.presence : user.presence + " (chose " + user.status + ")";
  }

  async function load() {
    try {
      const data = await api("GET", "/api/agents");
      $("users").replaceChildren(...data.agents.map(row));
    } catch (error) { say(error); }
  }

  $("add-user").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/api/agents", { email: $("u-email").value.trim(), name: $("u-name").value.trim(),
        role: $("u-role").value, teams: teamsOf($("u-teams").value), password: $("u-password").value });
      say(null, "Added " + $("u-email").value.trim() + ".");
      $("add-user").reset();
      load();
    } catch (error) { say(error); }
  });

  load();
})();
