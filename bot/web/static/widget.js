/* deskbot web-chat widget. Embed with one tag:
 *   <script src="https://support.example.com/webchat/widget.js" data-title="Help" defer></script>
 * Everything the customer or an agent wrote is inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script.src, location.href).origin;
  var title = script.getAttribute("data-title") || "Chat with us";
  var openAtStart = script.getAttribute("data-open") === "true";
  var storageKey = "deskbot.token." + base;
  var token = null, socket = null, retry = 0, seen = {}, pending = {}, people = null;
  var AVAILABILITY_MS = 60000;

  var css = "#deskbot-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;" +
    "border-radius:28px;padding:14px 20px;background:#2563eb;color:#fff;font:600 15px system-ui;" +
    "cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2)}" +
    "#deskbot-panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:min(370px,calc(100vw - 24px));" +
    "height:min(540px,calc(100vh - 110px));display:none;flex-direction:column;background:#fff;border-radius:12px;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.25);font:14px/1.4 system-ui,sans-serif;overflow:hidden}" +
    "#deskbot-panel.open{display:flex}#deskbot-head{background:#2563eb;color:#fff;padding:12px 14px;font-weight:600;" +
    "display:flex;justify-content:space-between}#deskbot-status{font-weight:400;font-size:12px;opacity:.85}" +
    "#deskbot-log{flex:1;overflow-y:auto;padding:12px;background:#f8fafc}" +
    ".deskbot-msg{max-width:82%;margin:6px 0;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}" +
    ".deskbot-in{margin-left:auto;background:#2563eb;color:#fff;border-bottom-right-radius:3px}" +
    ".deskbot-out{background:#e2e8f0;color:#0f172a;border-bottom-left-radius:3px}" +
    ".deskbot-agent{background:#dcfce7}.deskbot-system{background:#fef9c3;font-size:13px}" +
    ".deskbot-who{display:block;font-size:11px;opacity:.7;margin-bottom:2px}" +
    ".deskbot-time{display:block;font-size:10px;opacity:.6;margin-top:2px;text-align:right}" +
    "#deskbot-form{display:flex;border-top:1px solid #e2e8f0}#deskbot-input{flex:1;border:0;padding:12px;font:16px/1.3 system-ui,sans-serif;outline:none}" +
    "#deskbot-send{border:0;background:#2563eb;color:#fff;padding:0 16px;font:600 14px system-ui;cursor:pointer}" +
    ".deskbot-choices{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}" +
    "#deskbot-close{border:0;background:transparent;color:#fff;font:600 20px/1 system-ui;cursor:pointer;" +
    "padding:0 0 0 10px;margin-left:6px}#deskbot-close:focus-visible,#deskbot-launcher:focus-visible{outline:2px solid #fff;outline-offset:2px}" +
    "#deskbot-unread{display:none;margin-left:8px;min-width:20px;padding:1px 6px;border-radius:10px;background:#dc2626;" +
    "color:#fff;font:700 12px/18px system-ui}#deskbot-unread.on{display:inline-block}" +
    "@media (max-width:480px){#deskbot-panel{right:0;bottom:0;width:100vw;height:100%;height:100dvh;border-radius:0}" +
    "#deskbot-panel.open~#deskbot-launcher{display:none}}" +
    ".deskbot-choice{border:1px solid #2563eb;background:#fff;color:#1d4ed8;border-radius:16px;padding:6px 12px;" +
    "font:13px system-ui;cursor:pointer;text-align:left;max-width:100%}.deskbot-choice:hover{background:#eff6ff}";
  var style = document.createElement("style");
  style.textContent = css;
  document.head.appendChild(style);

  var launcher = el("button", {id: "deskbot-launcher", type: "button", "aria-expanded": "false"}, title);
  var unread = el("span", {id: "deskbot-unread", "aria-label": "unread replies"});
  launcher.appendChild(unread);
  var unreadCount = 0;
  var panel = el("div", {id: "deskbot-panel", role: "dialog", "aria-label": title});
  var head = el("div", {id: "deskbot-head"});
  head.appendChild(el("span", {}, title));
  var status = el("span", {id: "deskbot-status"}, "connecting…");
  var right = el("span", {});
  right.appendChild(status);
  var close = el("button", {id: "deskbot-close", type: "button", "aria-label": "Close chat"}, "×");
  right.appendChild(close);
  head.appendChild(right);
  var log = el("div", {id: "deskbot-log", "aria-live": "polite"});
  var form = el("form", {id: "deskbot-form"});
  var input = el("input", {id: "deskbot-input", autocomplete: "off", maxlength: "4000",
    placeholder: "Type your question…", "aria-label": "Message"});
  var send = el("button", {id: "deskbot-send", type: "submit"}, "Send");
  form.appendChild(input); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(form);
  document.body.appendChild(panel); document.body.appendChild(launcher);

  // Closed, the chat goes on: replies that arrive are counted on the launcher.
  function setOpen(open) {
    panel.classList.toggle("open", open);
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      unreadCount = 0; unread.textContent = ""; unread.classList.remove("on");
      input.focus();
      log.scrollTop = log.scrollHeight;
    } else {
      launcher.focus();
    }
  }
  launcher.addEventListener("click", function () { setOpen(!panel.classList.contains("open")); });
  close.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") setOpen(false); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    say(text, text);
  });

  // shown: what the customer sees they chose; sent: what the bot reads (a button's payload).
  function say(shown, sent) {
    var id = uid();
    pending[id] = sent;
    show({id: "local-" + id, direction: "in", sender_kind: "customer", text: shown});
    transmit(id, sent);
  }
  function showChoices(m) {
    var row = el("div", {"class": "deskbot-choices", role: "group", "aria-label": "Suggested replies"});
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
  function show(m) {
    if (seen[m.id]) return;
    seen[m.id] = true;
    var kind = m.direction === "in" ? "deskbot-in" : "deskbot-out deskbot-" + m.sender_kind;
    var bubble = el("div", {"class": "deskbot-msg " + kind, "data-sender": m.sender_kind});
    if (m.direction !== "in" && m.sender_kind === "agent") bubble.appendChild(el("span", {"class": "deskbot-who"}, "Support team"));
    bubble.appendChild(document.createTextNode(m.text));
    var at = m.created_at ? new Date(m.created_at) : new Date();
    if (!isNaN(at)) {
      bubble.appendChild(el("time", {"class": "deskbot-time", datetime: at.toISOString()},
        at.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})));
    }
    clearChoices();  // only the latest question's buttons stay
    log.appendChild(bubble);
    if (m.direction !== "in" && m.quick_replies && m.quick_replies.length) showChoices(m);
    log.scrollTop = log.scrollHeight;
  }
  function transmit(id, text) {
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({type: "message", text: text, client_message_id: id}));
    }
  }
  function session() {
    token = localStorage.getItem(storageKey);
    if (!token) return newSession();
    // A stored token may have expired or been signed with an older key: check it first.
    return fetch(base + "/webchat/messages?after=" + Number.MAX_SAFE_INTEGER,
                 {headers: {Authorization: "Bearer " + token}})
      .then(function (r) {
        if (r.status === 401) { localStorage.removeItem(storageKey); return newSession(); }
        return token;
      });
  }
  function newSession() {
    return fetch(base + "/webchat/sessions", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"})
      .then(function (r) { if (!r.ok) throw new Error("session " + r.status); return r.json(); })
      .then(function (body) { token = body.token; localStorage.setItem(storageKey, token); return token; });
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
          frame.messages.forEach(function (m) { if (m.direction !== "in" || !isPendingEcho(m)) show(m); });
        } else if (frame.type === "message") {
          var fresh = !seen[frame.message.id];
          show(frame.message);
          if (fresh && frame.message.direction !== "in" && !panel.classList.contains("open")) {
            unreadCount += 1;
            unread.textContent = String(unreadCount);
            unread.classList.add("on");
          }
        } else if (frame.type === "ack") {
          delete pending[frame.client_message_id];
          seen[frame.message_id] = true;
        } else if (frame.type === "error") {
          show({id: "err-" + uid(), direction: "out", sender_kind: "system", text: frame.error});
        }
      };
      socket.onclose = function (event) {
        connected(false, "reconnecting…");
        setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retry++)));
      };
    }).catch(function () {
      connected(false, "offline");
      setTimeout(connect, Math.min(30000, 1000 * Math.pow(2, retry++)));
    });
  }
  // The header says whether a person can answer now, not only that the socket is up.
  function connected(up, why) {
    status.setAttribute("data-connected", up ? "true" : "false");
    if (!up) { status.textContent = why; return; }
    if (people && people.people === "online") status.textContent = "Team online";
    else if (people && people.opens) status.textContent = "Team back " + people.opens;
    else if (people) status.textContent = "Team away · the bot can help";
    else status.textContent = "online";
  }
  function checkPeople() {
    fetch(base + "/webchat/availability")
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body) people = body;
        if (socket && socket.readyState === 1) connected(true);
      })
      .catch(function () {});
  }
  setInterval(function () { if (socket && socket.readyState === 1) checkPeople(); }, AVAILABILITY_MS);
  function isPendingEcho(m) {
    return Object.keys(pending).some(function (id) { return pending[id] === m.text; });
  }
  if (openAtStart) { panel.classList.add("open"); launcher.setAttribute("aria-expanded", "true"); }
  connect();
})();
