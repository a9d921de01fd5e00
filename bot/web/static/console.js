// The agent console: live queue, transcript, take over, reply, notes, suggestions, hand back, resolve.
"use strict";
(() => {
  const { api, el, duration, socket } = deskbot;
  const me = Number(document.currentScript.dataset.agentId);
  const $ = (id) => document.getElementById(id);
  let current = null;   // the open conversation, as the API returned it
  let queueFetchedAt = 0;
  let queueEntries = [];
  let refreshTimer = null;
  const TYPING_BEAT_MS = 3000;

  function showError(error) { $("chat-error").textContent = error ? error.message || String(error) : ""; }

  function renderQueue() {
    const elapsed = (Date.now() - queueFetchedAt) / 1000;
    const items = queueEntries.map((entry) =>
      el("li", { class: "queue-item" + (entry.breached ? " breached" : ""), "data-conversation": entry.conversation_id },
        el("button", { class: "link", onclick: () => openConversation(entry.conversation_id) },
          "#" + entry.conversation_id + " · " + (entry.channel || "") + " · priority " + entry.priority),
        el("div", { class: "muted" }, "waiting " + duration(entry.waiting_s + elapsed) + (entry.team ? " · team " + entry.team : "")),
        el("div", { class: "reason" }, entry.reason || "")));
    $("queue-list").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "Nobody is waiting.")]));
  }

  async function loadQueue() {
    try {
      const [queue, mine] = await Promise.all([
        api("GET", "/api/queue"),
        api("GET", "/api/conversations?state=agent&assigned=me"),
      ]);
      queueEntries = queue.waiting;
      queueFetchedAt = Date.now();
      renderQueue();
      $("mine-list").replaceChildren(...mine.conversations.map((c) =>
        el("li", { class: "queue-item" + (unread.has(c.id) ? " unread" : ""), "data-conversation": c.id },
          el("button", { class: "link", onclick: () => openConversation(c.id) }, "#" + c.id + " · " + c.channel),
          unread.has(c.id) ? el("span", { class: "unread-mark", "aria-label": "new message" }, "new") : null)));
    } catch (error) { showError(error); }
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => { loadQueue(); if (current) openConversation(current.id, true); }, 150);
  }

  function messageItem(m) {
    const meta = [];
    if (m.intent) meta.push(m.intent + (m.confidence != null ? " " + Math.round(m.confidence * 100) + "%" : ""));
    if (m.sentiment != null) meta.push("sentiment " + m.sentiment.toFixed(2));
    if (m.via === "email") meta.push("sent by email");
    return el("li", { class: "msg " + m.sender_kind, "data-message": m.id },
      el("span", { class: "who" }, m.sender_kind === "agent" && m.sender_name ? m.sender_name : m.sender_kind),
      el("span", { class: "text" }, m.text),
      m.created_at ? el("time", { class: "when", datetime: m.created_at }, new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })) : null,
      meta.length ? el("span", { class: "meta" }, meta.join(" · ")) : null,
      m.sender_kind === "customer" ? sentimentButtons(m) : null);
  }

  // One click tells the model what this message really was (training data for later).
  function sentimentButtons(m) {
    const labels = [["negative", "−"], ["neutral", "0"], ["positive", "+"]];
    const box = el("span", { class: "sentiment-fix", title: "Correct the sentiment" });
    const buttons = labels.map(([label, sign]) => el("button", {
      class: "link" + (m.sentiment_label === label ? " chosen" : ""), "data-label": label,
      "aria-pressed": String(m.sentiment_label === label),
      onclick: async () => {
        try {
          await api("PUT", "/api/messages/" + m.id + "/sentiment", { label });
          for (const b of buttons) {
            const on = b.dataset.label === label;
            b.classList.toggle("chosen", on);
            b.setAttribute("aria-pressed", String(on));
          }
        } catch (error) { showError(error); }
      },
    }, sign));
    box.append(...buttons);
    return box;
  }

  function appendMessage(m) {
    if ($("transcript").querySelector('[data-message="' + m.id + '"]')) return;
    $("transcript").append(messageItem(m));
    $("transcript").scrollTop = $("transcript").scrollHeight;
    if (m.sender_kind === "customer") loadSuggestions();
  }

  async function openConversation(id, quiet) {
    if (unread.delete(id)) { showCount(); loadQueue(); }
    try {
      const conversation = await api("GET", "/api/conversations/" + id);
      const switched = !current || current.id !== id;
      if (switched) $("customer-typing").textContent = "";
      current = conversation;
      if (switched || !quiet) showError(null);
      $("chat-title").textContent = "#" + id + " · " + conversation.channel + " · " + conversation.state;
      $("chat-reason").textContent = conversation.escalation_reason ? "Escalated: " + conversation.escalation_reason : "";
      $("transcript").replaceChildren(...conversation.messages.map(messageItem));
      $("transcript").scrollTop = $("transcript").scrollHeight;
      const mine = conversation.state === "agent" && conversation.assigned_agent_id === me;
      $("claim").hidden = !(conversation.state === "queued" || conversation.state === "bot");
      $("handback").hidden = !mine;
      $("transfer").hidden = !mine;
      if (!mine) $("transfer-form").hidden = true;
      $("resolve").hidden = conversation.state === "resolved";
      $("reply-form").hidden = !mine;
      $("note-form").hidden = false;
      live.send({ watch: id });
      const wasMine = !!$("suggestions").querySelector("button");
      // Suggestions again when the chat became (or stopped being) mine: no Use after Resolve.
      if (switched) await Promise.all([loadCustomer(), loadNotes(), loadSuggestions()]);
      else if (wasMine !== mine) await loadSuggestions();
    } catch (error) { showError(error); }
  }

  // The chat left my hands (a transfer): it may no longer be mine to see.
  function closeConversation(message) {
    current = null;
    $("chat-title").textContent = "No conversation open";
    $("chat-reason").textContent = message;
    for (const id of ["transcript", "suggestions", "customer", "churn-factors", "past", "notes"]) $(id).replaceChildren();
    for (const id of ["claim", "handback", "resolve", "transfer", "transfer-form", "reply-form", "note-form"]) $(id).hidden = true;
  }

  async function loadCustomer() {
    const panel = await api("GET", "/api/conversations/" + current.id + "/customer");
    const rows = [["Name", (panel.display_name || "(unknown)") + (panel.verified ? " ✓ signed in" : "")],
      ["Email", panel.email || "—"], ["Channel", current.channel], ["Tier", panel.tier],
      ["Churn risk", panel.churn_risk == null ? "no data" : Math.round(panel.churn_risk * 100) + "%"]];
    $("customer").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    $("churn-factors").replaceChildren(...panel.churn_factors.map((f) => el("li", {}, f)));
    $("past").replaceChildren(...panel.conversations.filter((c) => c.id !== current.id).map((c) =>
      el("li", {}, el("button", { class: "link", onclick: () => openConversation(c.id) },
        "#" + c.id + " · " + c.channel + " · " + c.state + " · " + c.created_at.slice(0, 10)))));
  }

  async function loadNotes() {
    const data = await api("GET", "/api/conversations/" + current.id + "/notes");
    $("notes").replaceChildren(...data.notes.map((n) =>
      el("li", {}, el("span", { class: "muted" }, (n.author || "?") + ": "), n.text)));
  }

  async function loadSuggestions() {
    if (!current) return;
    const data = await api("GET", "/api/conversations/" + current.id + "/suggestions");
    const mine = !$("reply-form").hidden;
    $("suggestions").replaceChildren(...data.suggestions.map((s) =>
      el("div", { class: "suggestion" },
        el("span", { class: "meta" }, s.intent + " " + Math.round(s.confidence * 100) + "%"),
        el("span", { class: "text" }, s.answer),
        mine ? el("button", { class: "small", onclick: () => { $("reply-text").value = s.answer; $("reply-text").focus(); } }, "Use") : null)));
  }

  async function act(path, body) {
    try {
      await api("POST", "/api/conversations/" + current.id + "/" + path, body || {});
      await openConversation(current.id, true);
      loadQueue();
    } catch (error) { showError(error); }
  }

  // Transfer: to a colleague (they have it at once) or to a team's queue, with a note.
  $("transfer").addEventListener("click", async () => {
    const form = $("transfer-form");
    if (!form.hidden) { form.hidden = true; return; }
    try {
      const data = await api("GET", "/api/colleagues");
      $("transfer-to").replaceChildren(
        ...data.colleagues.filter((c) => c.id !== me).map((c) =>
          el("option", { value: "agent:" + c.id }, c.name + " (" + c.presence + ")")),
        ...data.teams.map((t) => el("option", { value: "team:" + t }, "team " + t + " (its queue)")));
      form.hidden = false;
      $("transfer-note").focus();
    } catch (error) { showError(error); }
  });
  $("transfer-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const [kind, target] = $("transfer-to").value.split(":");
    const body = { note: $("transfer-note").value.trim() };
    if (kind === "agent") body.to_agent_id = Number(target); else body.to_team = target;
    try {
      await api("POST", "/api/conversations/" + current.id + "/transfer", body);
      const whom = $("transfer-to").selectedOptions[0].textContent.replace(/ \(.*\)$/, "");
      $("transfer-note").value = "";
      closeConversation("#" + current.id + " transferred to " + whom + ".");
      loadQueue();
    } catch (error) { showError(error); }
  });
  $("claim").addEventListener("click", () => act("claim"));
  $("handback").addEventListener("click", () => act("handback"));
  $("resolve").addEventListener("click", () => act("resolve"));
  $("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text) return;
    try {
      const message = await api("POST", "/api/conversations/" + current.id + "/reply", { text });
      $("reply-text").value = "";
      typedAt = 0;
      appendMessage(message);
      showError(null);
    } catch (error) { showError(error); }
  });
  // The customer's widget shows "… is typing" for a few seconds after each beat.
  let typedAt = 0;
  $("reply-text").addEventListener("input", () => {
    const now = Date.now();
    if (!current || now - typedAt < TYPING_BEAT_MS || !$("reply-text").value.trim()) return;
    typedAt = now;
    api("POST", "/api/conversations/" + current.id + "/typing", {}).catch(() => {});
  });
  // Ctrl+Enter (⌘+Enter) sends; "/shortcut" then Tab puts in that canned response.
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("reply-form").requestSubmit();
      return;
    }
    const typed = $("reply-text").value.match(/^\/([a-z0-9_-]+)$/);
    if (event.key === "Tab" && typed) {
      const option = [...$("canned").options].find((o) => o.textContent === "/" + typed[1]);
      if (option) { event.preventDefault(); $("reply-text").value = option.dataset.text; }
    }
  });
  $("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("note-text").value.trim();
    if (!text) return;
    try {
      await api("POST", "/api/conversations/" + current.id + "/notes", { text });
      $("note-text").value = "";
      loadNotes();
    } catch (error) { showError(error); }
  });
  $("canned").addEventListener("change", () => {
    const choice = $("canned").selectedOptions[0];
    if (choice && choice.value) $("reply-text").value = choice.dataset.text;
    $("canned").value = "";
  });
  $("status").addEventListener("change", async () => {
    try { await api("PATCH", "/api/me", { status: $("status").value }); } catch (error) { showError(error); }
  });

  // What the queue sees, when it differs from the chosen status: an open console nobody
  // touched for a while counts as away, and customers are told so.
  function showPresence(presence) {
    const chosen = $("status").value;
    $("presence").textContent = presence === chosen ? "" : presence === "away" && chosen === "online"
      ? "away: no activity for a while" : presence;
  }
  document.addEventListener("deskbot:presence", (event) => showPresence(event.detail));
  $("status").addEventListener("change", () => showPresence($("status").value));

  async function loadMe() {
    const [who, canned] = await Promise.all([api("GET", "/api/me"), api("GET", "/api/canned-responses")]);
    $("status").value = who.status;
    showPresence(who.presence);
    $("canned").append(...canned.responses.map((c) => el("option", { value: c.id, "data-text": c.text }, "/" + c.shortcut)));
  }

  // --- what needs the agent: unread marks, the tab title, a sound, a desktop notification --
  const unread = new Set();   // my chats with a customer message I have not opened since
  let waitingNew = 0;         // escalations that arrived while this tab was in the background
  const title = document.title;
  function showCount() {
    const count = unread.size + waitingNew;
    document.title = count ? "(" + count + ") " + title : title;
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    waitingNew = 0;
    if (current && unread.delete(current.id)) loadQueue();
    showCount();
  });
  function beep() {
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880; gain.gain.value = 0.08;
      tone.connect(gain).connect(audio.destination);
      tone.start(); tone.stop(audio.currentTime + 0.15);
    } catch (e) { /* no audio device: the title and the mark still tell */ }
  }
  function notify(text, conversationId) {
    beep();
    if (!("Notification" in window) || Notification.permission !== "granted" || document.hasFocus()) return;
    const note = new Notification("deskbot", { body: text, tag: "conversation-" + conversationId });
    note.onclick = () => { window.focus(); openConversation(conversationId); note.close(); };
  }
  function offerNotifications() {
    const button = $("notify");
    button.hidden = !("Notification" in window) || Notification.permission !== "default";
    button.onclick = async () => { await Notification.requestPermission(); offerNotifications(); };
  }
  function onChange(event) {
    const id = event.conversation_id;
    const handedOver = event.state === "agent" && /^(assigned|transferred) to /.test(event.reason || "");
    if (handedOver && !$("mine-list").querySelector('[data-conversation="' + id + '"]')) {
      api("GET", "/api/conversations?state=agent&assigned=me").then((mine) => {
        if (mine.conversations.some((c) => c.id === id)) notify("A chat is yours now #" + id + ": " + event.reason, id);
      }).catch(() => {});
    }
    if (event.state === "queued" && event.previous_state !== "queued") {
      if (document.visibilityState !== "visible") waitingNew += 1;
      showCount();
      notify("New chat waiting #" + event.conversation_id + (event.reason ? ": " + event.reason : ""), event.conversation_id);
    }
    scheduleRefresh();
  }
  function onCustomerWrote(event) {  // {conversation_id}: a frame, or the message itself
    if (current && current.id === event.conversation_id && document.visibilityState === "visible") return;
    unread.add(event.conversation_id);
    showCount();
    loadQueue();
    notify("The customer wrote in #" + event.conversation_id, event.conversation_id);
  }
  let typingTimer = null;
  function onCustomerTyping(event) {
    if (!current || current.id !== event.conversation_id) return;
    $("customer-typing").textContent = "The customer is typing…";
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { $("customer-typing").textContent = ""; }, 6000);
  }

  const live = socket("/console/ws", (event) => {
    if (event.type === "conversation_changed") onChange(event);
    else if (event.type === "customer_wrote") onCustomerWrote(event);
    else if (event.type === "customer_typing") onCustomerTyping(event);
    else if (event.type === "message_created" && current && event.message.conversation_id === current.id) {
      if (event.message.sender_kind === "customer") {
        $("customer-typing").textContent = "";
        if (document.visibilityState !== "visible") onCustomerWrote(event.message);
      }
      appendMessage(event.message);
    }
  }, (up) => {
    $("live").textContent = up ? "live" : "reconnecting…";
    if (up) { loadQueue(); if (current) live.send({ watch: current.id }); }
  });

  offerNotifications();
  const linked = Number(new URLSearchParams(location.search).get("conversation"));
  setInterval(renderQueue, 1000);
  // who I am first: whether the linked chat (from the Customers page) is mine decides the reply box
  loadMe().catch(showError).then(() => { if (linked) openConversation(linked); });
  loadQueue();
})();
