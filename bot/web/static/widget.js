/* deskbot web-chat widget. Embed with one tag:
 *   <script src="https://support.example.com/webchat/widget.js" data-title="Help" defer></script>
 * Optional: data-lang="zh" (else the page's language), data-open="true", and for a signed-in
 * user data-identity (the JSON text your server signed) with data-identity-signature.
 * Everything the customer or an agent wrote is inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var STRINGS = {
    en: {
      title: "Chat with us", connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline",
      online: "online", teamOnline: "Team online", teamBack: "Team back {opens}", teamAway: "Team away · the bot can help",
      placeholder: "Type your question…", message: "Message", send: "Send", close: "Close chat",
      unread: "unread replies", suggested: "Suggested replies", team: "Support team", typing: "{name} is typing…",
      someone: "Someone", emailAsk: "Nobody from the team is here right now. Leave your email and we'll answer there if you've gone.",
      emailQueued: "If you can't wait, leave your email: the answer goes there if you've gone.",
      emailLabel: "Email address", nameLabel: "Your name", emailSave: "Save", noThanks: "No thanks",
      emailSaved: "Thanks! If you've left when we answer, the answer goes to {email}.",
      prechat: "Before we start, tell us who you are, so we can answer you by email too.",
      start: "Start chat", transcript: "Email me this chat", transcriptSend: "Send",
      transcriptSent: "The chat is on its way to {email}.", failed: "That did not work: {error}",
      chatLog: "Conversation"
    },
    zh: {
      title: "在线客服", connecting: "连接中…", reconnecting: "重新连接中…", offline: "离线",
      online: "在线", teamOnline: "客服在线", teamBack: "客服将于 {opens} 回来", teamAway: "客服暂时离开 · 智能助手可以帮您",
      placeholder: "请输入您的问题…", message: "消息", send: "发送", close: "关闭会话",
      unread: "未读回复", suggested: "推荐回复", team: "客服团队", typing: "{name} 正在输入…",
      someone: "客服", emailAsk: "客服现在不在。留下您的邮箱，如果您离开了，我们会通过邮件回复您。",
      emailQueued: "如果您无法等待，请留下邮箱：如果您离开了，回复会发送到您的邮箱。",
      emailLabel: "邮箱地址", nameLabel: "您的姓名", emailSave: "保存", noThanks: "不用了",
      emailSaved: "谢谢！如果我们回复时您已离开，回复会发送到 {email}。",
      prechat: "开始之前，请告诉我们您的姓名和邮箱，以便我们也能通过邮件回复您。",
      start: "开始会话", transcript: "将会话记录发到我的邮箱", transcriptSend: "发送",
      transcriptSent: "会话记录正在发送到 {email}。", failed: "操作未成功：{error}",
      chatLog: "会话"
    }
  };
  var script = document.currentScript;
  var base = new URL(script.src, location.href).origin;
  var hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  var lang = pickLanguage(script.getAttribute("data-lang") || hash.get("lang") ||
    document.documentElement.lang || navigator.language || "en");
  var T = STRINGS[lang];
  var title = script.getAttribute("data-title") || T.title;
  var openAtStart = script.getAttribute("data-open") === "true";
  var identity = script.getAttribute("data-identity");
  var identitySignature = script.getAttribute("data-identity-signature");
  var storageKey = "deskbot.token." + base;
  var contactKey = "deskbot.contact." + base;
  var userKey = "deskbot.user-token." + base;
  var token = null, socket = null, retry = 0, seen = {}, pending = {}, people = null;
  var state = null, sentSomething = false, historyShown = false, typingTimer = null, asked = false;
  var AVAILABILITY_MS = 60000, TYPING_SHOWN_MS = 6000, TYPING_BEAT_MS = 2500;

  var css = "#deskbot-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;" +
    "border-radius:28px;padding:14px 20px;background:#1d4ed8;color:#fff;font:600 15px system-ui;" +
    "cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2)}" +
    "#deskbot-panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:min(370px,calc(100vw - 24px));" +
    "height:min(560px,calc(100vh - 110px));display:none;flex-direction:column;background:#fff;border-radius:12px;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.25);font:14px/1.4 system-ui,sans-serif;overflow:hidden;color:#0f172a}" +
    "#deskbot-panel.open{display:flex}#deskbot-head{background:#1d4ed8;color:#fff;padding:12px 14px;font-weight:600;" +
    "display:flex;justify-content:space-between;align-items:center;gap:8px}" +
    "#deskbot-status{font-weight:400;font-size:12px}" +
    "#deskbot-log{flex:1;overflow-y:auto;padding:12px;background:#f8fafc}" +
    ".deskbot-msg{max-width:82%;margin:6px 0;padding:8px 11px;border-radius:12px;white-space:pre-wrap;" +
    "word-wrap:break-word;overflow-wrap:anywhere;line-break:auto}" +
    ".deskbot-in{margin-left:auto;background:#1d4ed8;color:#fff;border-bottom-right-radius:3px}" +
    ".deskbot-out,.deskbot-welcome{background:#e2e8f0;color:#0f172a;border-bottom-left-radius:3px}" +
    ".deskbot-agent{background:#dcfce7}.deskbot-system,.deskbot-note{background:#fef9c3;font-size:13px}" +
    ".deskbot-who{display:block;font-size:11px;color:#334155;margin-bottom:2px;font-weight:600}" +
    ".deskbot-time{display:block;font-size:10px;color:#475569;margin-top:2px;text-align:right}" +
    ".deskbot-in .deskbot-time{color:#e0e7ff}" +
    "#deskbot-typing{min-height:18px;padding:0 12px 4px;font-size:12px;color:#475569;background:#f8fafc}" +
    "#deskbot-form{display:flex;border-top:1px solid #e2e8f0}#deskbot-input{flex:1;border:0;padding:12px;font:16px/1.3 system-ui,sans-serif;outline:none;min-width:0}" +
    "#deskbot-input:focus-visible{box-shadow:inset 0 0 0 2px #1d4ed8}" +
    "#deskbot-send{border:0;background:#1d4ed8;color:#fff;padding:0 16px;font:600 14px system-ui;cursor:pointer}" +
    ".deskbot-choices{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}" +
    ".deskbot-icon{border:0;background:transparent;color:#fff;font:600 18px/1 system-ui;cursor:pointer;padding:2px 4px}" +
    ".deskbot-icon:focus-visible,#deskbot-launcher:focus-visible,#deskbot-send:focus-visible{outline:2px solid #fff;outline-offset:2px}" +
    "#deskbot-unread{display:none;margin-left:8px;min-width:20px;padding:1px 6px;border-radius:10px;background:#b91c1c;" +
    "color:#fff;font:700 12px/18px system-ui}#deskbot-unread.on{display:inline-block}" +
    ".deskbot-card{background:#fff;border:1px solid #cbd5e1;border-radius:10px;padding:10px;margin:8px 0;font-size:13px}" +
    ".deskbot-card label{display:block;margin:6px 0 2px;font-weight:600}" +
    ".deskbot-card input{width:100%;box-sizing:border-box;border:1px solid #94a3b8;border-radius:6px;padding:8px;font:16px system-ui}" +
    ".deskbot-card .deskbot-row{display:flex;gap:8px;margin-top:8px;flex-wrap:wrap}" +
    ".deskbot-card button{border:0;border-radius:6px;padding:8px 12px;font:600 13px system-ui;cursor:pointer;background:#1d4ed8;color:#fff}" +
    ".deskbot-card button.deskbot-plain{background:#e2e8f0;color:#0f172a}" +
    ".deskbot-error{color:#b91c1c;margin-top:4px}" +
    "@media (max-width:480px){#deskbot-panel{right:0;bottom:0;width:100vw;height:100%;height:100dvh;border-radius:0}" +
    "#deskbot-panel.open~#deskbot-launcher{display:none}}" +
    ".deskbot-choice{border:1px solid #1d4ed8;background:#fff;color:#1d4ed8;border-radius:16px;padding:6px 12px;" +
    "font:13px system-ui;cursor:pointer;text-align:left;max-width:100%}.deskbot-choice:hover{background:#eff6ff}" +
    ".deskbot-choice:focus-visible{outline:2px solid #1d4ed8;outline-offset:2px}";
  var style = document.createElement("style");
  style.textContent = css;
  document.head.appendChild(style);

  var launcher = el("button", {id: "deskbot-launcher", type: "button", "aria-expanded": "false",
    "aria-controls": "deskbot-panel"}, title);
  var unread = el("span", {id: "deskbot-unread", "aria-label": T.unread});
  launcher.appendChild(unread);
  var unreadCount = 0;
  var panel = el("div", {id: "deskbot-panel", role: "dialog", "aria-label": title, lang: lang});
  var head = el("div", {id: "deskbot-head"});
  var heading = el("span", {}, title);
  head.appendChild(heading);
  var status = el("span", {id: "deskbot-status", role: "status"}, T.connecting);
  var right = el("span", {});
  right.appendChild(status);
  var mailButton = el("button", {id: "deskbot-transcript", "class": "deskbot-icon", type: "button",
    "aria-label": T.transcript, title: T.transcript}, "✉");
  mailButton.hidden = true;  // shown once the server says it sends email
  right.appendChild(mailButton);
  var close = el("button", {id: "deskbot-close", "class": "deskbot-icon", type: "button", "aria-label": T.close}, "×");
  right.appendChild(close);
  head.appendChild(right);
  var log = el("div", {id: "deskbot-log", role: "log", "aria-live": "polite", "aria-label": T.chatLog, tabindex: "0"});
  var typing = el("div", {id: "deskbot-typing", "aria-live": "polite"});
  var form = el("form", {id: "deskbot-form"});
  var input = el("input", {id: "deskbot-input", autocomplete: "off", maxlength: "4000",
    placeholder: T.placeholder, "aria-label": T.message});
  var send = el("button", {id: "deskbot-send", type: "submit"}, T.send);
  form.appendChild(input); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(typing); panel.appendChild(form);
  document.body.appendChild(panel); document.body.appendChild(launcher);

  function signedInUser() {
    try { return String(JSON.parse(identity).user_id); } catch (e) { return null; }
  }
  function pickLanguage(tag) { return String(tag).toLowerCase().indexOf("zh") === 0 ? "zh" : "en"; }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, key) { return values[key] == null ? "" : values[key]; });
  }

  // Closed, the chat goes on: replies that arrive are counted on the launcher.
  function setOpen(open) {
    panel.classList.toggle("open", open);
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      unreadCount = 0; unread.textContent = ""; unread.classList.remove("on");
      if (!input.disabled) input.focus();
      log.scrollTop = log.scrollHeight;
    } else {
      launcher.focus();
    }
  }
  launcher.addEventListener("click", function () { setOpen(!panel.classList.contains("open")); });
  close.addEventListener("click", function () { setOpen(false); });
  mailButton.addEventListener("click", function () { askTranscript(); });
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") setOpen(false); });
  var typedAt = 0;
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - typedAt < TYPING_BEAT_MS || !input.value.trim() || !socket || socket.readyState !== 1) return;
    typedAt = now;
    socket.send(JSON.stringify({type: "typing"}));
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    typedAt = 0;  // the next words typed are news to the agent
    say(text, text);
  });

  // shown: what the customer sees they chose; sent: what the bot reads (a button's payload).
  function say(shown, sent) {
    var id = uid();
    pending[id] = sent;
    sentSomething = true;
    show({id: "local-" + id, direction: "in", sender_kind: "customer", text: shown});
    transmit(id, sent);
  }
  function showChoices(m) {
    var row = el("div", {"class": "deskbot-choices", role: "group", "aria-label": T.suggested});
    m.quick_replies.forEach(function (choice) {
      var button = el("button", {"class": "deskbot-choice", type: "button"}, choice.title);
      button.addEventListener("click", function () { clearChoices(); say(choice.title, choice.payload); });
      row.appendChild(button);
    });
    log.appendChild(row);
  }
  function clearChoices() {
    Array.prototype.slice.call(log.querySelectorAll(".deskbot-choices")).forEach(function (row) { row.remove(); });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }
  function uid() {
    return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9_-]/g, "");
  }
  function bubble(kind, text, who, when) {
    var node = el("div", {"class": "deskbot-msg " + kind});
    if (who) node.appendChild(el("span", {"class": "deskbot-who"}, who));
    node.appendChild(document.createTextNode(text));
    var at = when === false ? NaN : when ? new Date(when) : new Date();
    if (!isNaN(at)) {
      node.appendChild(el("time", {"class": "deskbot-time", datetime: at.toISOString()},
        at.toLocaleTimeString(lang === "zh" ? "zh-CN" : [], {hour: "2-digit", minute: "2-digit"})));
    }
    return node;
  }
  function show(m) {
    if (seen[m.id]) return;
    seen[m.id] = true;
    var kind = m.direction === "in" ? "deskbot-in" : "deskbot-out deskbot-" + m.sender_kind;
    var who = m.direction !== "in" && m.sender_kind === "agent" ? (m.sender_name || T.team) : null;
    var node = bubble(kind, m.text, who, m.created_at);
    node.setAttribute("data-sender", m.sender_kind);
    if (m.direction !== "in") stopTyping();
    clearChoices();  // only the latest question's buttons stay
    log.appendChild(node);
    if (m.direction !== "in" && m.quick_replies && m.quick_replies.length) showChoices(m);
    log.scrollTop = log.scrollHeight;
  }
  function note(text) {
    log.appendChild(bubble("deskbot-note", text));
    log.scrollTop = log.scrollHeight;
  }
  function showTyping(name) {
    typing.textContent = fill(T.typing, {name: name || T.someone});
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_SHOWN_MS);
  }
  function stopTyping() { clearTimeout(typingTimer); typing.textContent = ""; }

  // --- email: left for replies, a form before chatting, the transcript -------------------
  function contact() { try { return JSON.parse(localStorage.getItem(contactKey) || "null"); } catch (e) { return null; } }
  function post(path, body) {
    return fetch(base + "/webchat" + path, {method: "POST",
      headers: {"Content-Type": "application/json", Authorization: "Bearer " + token}, body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
          return data;
        });
      });
  }
  function card(id, intro, fields, submitText, onSubmit, dismissable) {
    var old = document.getElementById(id);
    if (old) old.remove();
    var box = el("form", {id: id, "class": "deskbot-card", novalidate: ""});
    box.appendChild(el("p", {style: "margin:0"}, intro));
    var inputs = {};
    fields.forEach(function (f) {
      var fieldId = id + "-" + f.name;
      box.appendChild(el("label", {"for": fieldId}, f.label));
      var attrs = {id: fieldId, name: f.name, type: f.type, autocomplete: f.autocomplete, maxlength: f.max};
      if (f.required) attrs.required = "";
      inputs[f.name] = el("input", attrs);
      if (f.value) inputs[f.name].value = f.value;
      box.appendChild(inputs[f.name]);
    });
    var error = el("div", {"class": "deskbot-error", role: "alert"});
    var row = el("div", {"class": "deskbot-row"});
    row.appendChild(el("button", {type: "submit"}, submitText));
    if (dismissable) {
      var no = el("button", {type: "button", "class": "deskbot-plain"}, T.noThanks);
      no.addEventListener("click", function () { box.remove(); input.focus(); });
      row.appendChild(no);
    }
    box.appendChild(row); box.appendChild(error);
    box.addEventListener("submit", function (event) {
      event.preventDefault();
      var values = {};
      Object.keys(inputs).forEach(function (k) { values[k] = inputs[k].value.trim(); });
      error.textContent = "";
      onSubmit(values).then(function () { box.remove(); }, function (e) { error.textContent = fill(T.failed, {error: e.message}); });
    });
    log.appendChild(box);
    log.scrollTop = log.scrollHeight;
    return inputs;
  }
  function saveContact(values) {
    var body = {email: values.email};
    if (values.name) body.name = values.name;
    return post("/contact", body).then(function (saved) {
      localStorage.setItem(contactKey, JSON.stringify({email: saved.email}));
      return saved;
    });
  }
  // Nobody of the team there, or waiting in the queue: the answer may come after they've gone.
  function askEmail() {
    if (asked || contact() || identity || !people || !people.ask_email_when_away || !people.by_email) return;
    var away = people.people !== "online";
    if (!away && state !== "queued") return;
    asked = true;
    card("deskbot-email", away ? T.emailAsk : T.emailQueued, [{name: "email", label: T.emailLabel, type: "email", autocomplete: "email", max: "320", required: true}],
      T.emailSave, function (values) {
        return saveContact(values).then(function (saved) { note(fill(T.emailSaved, {email: saved.email})); });
      }, true);
  }
  function askPrechat() {
    input.disabled = true; send.disabled = true;
    var inputs = card("deskbot-prechat", T.prechat, [
      {name: "name", label: T.nameLabel, type: "text", autocomplete: "name", max: "100", required: true},
      {name: "email", label: T.emailLabel, type: "email", autocomplete: "email", max: "320", required: true}],
      T.start, function (values) {
        if (!values.name || !values.email) return Promise.reject(new Error(T.nameLabel + " · " + T.emailLabel));
        return saveContact(values).then(function () { input.disabled = false; send.disabled = false; input.focus(); });
      }, false);
    inputs.name.focus();
  }
  function askTranscript() {
    var known = contact();
    var inputs = card("deskbot-mail", T.transcript, [{name: "email", label: T.emailLabel, type: "email",
      autocomplete: "email", max: "320", required: true, value: known ? known.email : ""}], T.transcriptSend,
      function (values) {
        return post("/transcript", {email: values.email}).then(function (sent) { note(fill(T.transcriptSent, {email: sent.sent_to})); });
      }, true);
    inputs.email.focus();
  }

  function transmit(id, text) {
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({type: "message", text: text, client_message_id: id}));
    }
  }
  // A link from our email carries the chat's token: that visitor's chat opens here.
  function adoptResumedToken() {
    var resumed = script.getAttribute("data-resume") === "hash" && hash.get("resume");
    if (!resumed) return;
    localStorage.setItem(storageKey, resumed);
    history.replaceState(null, "", location.pathname + location.search);
  }
  function session() {
    if (identity && identitySignature) return identifiedSession();
    token = localStorage.getItem(storageKey);
    if (!token) return newSession({});
    // A stored token may have expired or been signed with an older key: check it first.
    return fetch(base + "/webchat/messages?after=" + Number.MAX_SAFE_INTEGER,
                 {headers: {Authorization: "Bearer " + token}})
      .then(function (r) {
        if (r.status === 401) { localStorage.removeItem(storageKey); return newSession({}); }
        return token;
      });
  }
  // A signed-in user's chat is theirs on every device; it is not kept for the next user.
  // A refused identity (a wrong secret, a stale signature) still gets a chat, as a guest.
  function identifiedSession() {
    if (token) return Promise.resolve(token);
    var kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(userKey) || "null"); } catch (e) { kept = null; }
    if (kept && kept.user === signedInUser()) { token = kept.token; return Promise.resolve(token); }
    return newSession({identity: identity, signature: identitySignature}, true).then(function (t) {
      // This tab's next pages reuse it; another user signing in here gets their own.
      sessionStorage.setItem(userKey, JSON.stringify({user: signedInUser(), token: t}));
      return t;
    }).catch(function (e) {
      if (e.status !== 401) throw e;
      sessionStorage.removeItem(userKey);
      console.error("deskbot: the signed identity was refused (" + e.message + "); chatting as a guest");
      identity = identitySignature = null;
      return session();
    });
  }
  function newSession(body, identified) {
    return fetch(base + "/webchat/sessions", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .then(function (r) {
        if (r.ok) return r.json();
        return r.json().catch(function () { return {}; }).then(function (data) {
          var error = new Error(data.error || ("session " + r.status));
          error.status = r.status;
          throw error;
        });
      })
      .then(function (data) {
        token = data.token;
        if (!identified) localStorage.setItem(storageKey, token);
        return token;
      });
  }
  function connect() {
    session().then(function (t) {
      var url = base.replace(/^http/, "ws") + "/webchat/ws?token=" + encodeURIComponent(t);
      socket = new WebSocket(url);
      socket.onopen = function () {
        retry = 0; connected(true);
        checkPeople();
        Object.keys(pending).forEach(function (id) { transmit(id, pending[id]); });
      };
      socket.onmessage = function (event) {
        var frame = JSON.parse(event.data);
        if (frame.type === "history") {
          state = frame.state;
          frame.messages.forEach(function (m) { if (m.direction !== "in" || !isPendingEcho(m)) show(m); });
          if (frame.messages.length) sentSomething = true;
          historyShown = true;
          greet();
        } else if (frame.type === "message") {
          var fresh = !seen[frame.message.id];
          show(frame.message);
          if (fresh && frame.message.direction !== "in" && !panel.classList.contains("open")) {
            unreadCount += 1;
            unread.textContent = String(unreadCount);
            unread.classList.add("on");
          }
        } else if (frame.type === "typing") {
          showTyping(frame.name);
        } else if (frame.type === "ack") {
          delete pending[frame.client_message_id];
          seen[frame.message_id] = true;
          state = frame.state;
          askEmail();
        } else if (frame.type === "error") {
          show({id: "err-" + uid(), direction: "out", sender_kind: "system", text: frame.error});
        }
      };
      socket.onclose = function () {
        connected(false, T.reconnecting);
        setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retry++)));
      };
    }).catch(function () {
      connected(false, T.offline);
      setTimeout(connect, Math.min(30000, 1000 * Math.pow(2, retry++)));
    });
  }
  // The admin's welcome for a new visitor, and the form before chatting if they want one.
  function greet() {
    if (!historyShown || !people || log.querySelector(".deskbot-welcome")) return;
    if (sentSomething) return;
    if (people.welcome) log.insertBefore(bubble("deskbot-welcome", people.welcome, null, false), log.firstChild);
    if (people.prechat_form && !contact() && !identity) askPrechat();
  }
  // The header says whether a person can answer now, not only that the socket is up.
  function showMailButton() { mailButton.hidden = !(people && people.by_email); }
  function connected(up, why) {
    status.setAttribute("data-connected", up ? "true" : "false");
    if (!up) { status.textContent = why; return; }
    if (people && people.people === "online") status.textContent = T.teamOnline;
    else if (people && people.opens) status.textContent = fill(T.teamBack, {opens: people.opens});
    else if (people) status.textContent = T.teamAway;
    else status.textContent = T.online;
  }
  function checkPeople() {
    fetch(base + "/webchat/availability?lang=" + lang)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body) people = body;
        showMailButton();
        if (socket && socket.readyState === 1) connected(true);
        greet();
        if (sentSomething) askEmail();
      })
      .catch(function () {});
  }
  setInterval(function () { if (socket && socket.readyState === 1) checkPeople(); }, AVAILABILITY_MS);
  function isPendingEcho(m) {
    return Object.keys(pending).some(function (id) { return pending[id] === m.text; });
  }
  if (openAtStart) { panel.classList.add("open"); launcher.setAttribute("aria-expanded", "true"); }
  adoptResumedToken();
  connect();
})();
