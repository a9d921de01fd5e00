// Shared helpers for the console and admin pages: JSON calls with the CSRF token, safe DOM building.
"use strict";
const deskbot = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, path, body, headers) {
    const options = { method, headers: { "X-CSRF-Token": csrf, ...(headers || {}) }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const message = (data && data.error) || response.statusText;
      const details = data && data.details ? " (" + data.details.map((d) => d.field + ": " + d.problem).join("; ") + ")" : "";
      throw new Error(message + details);
    }
    return data;
  }

  // Every text goes in through textContent: customer-written text can never become markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
    return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
  }

  function socket(path, onMessage, onState) {
    let delay = 500;
    let ws;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(scheme + "//" + location.host + path);
      ws.onopen = () => { delay = 500; onState(true, ws); };
      ws.onmessage = (event) => onMessage(JSON.parse(event.data));
      ws.onclose = () => { onState(false, ws); setTimeout(open, delay); delay = Math.min(delay * 2, 10000); };
    };
    open();
    return { send: (data) => ws && ws.readyState === 1 && ws.send(JSON.stringify(data)) };
  }

  return { api, el, duration, socket };
})();
