// What both pages share: the JSON API with the session cookie and its CSRF token, the event
// stream, and text-only rendering (nothing from outside is ever put in the page as HTML).
"use strict";

const ivr = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      window.location.assign("/sign-in");
      throw new Error("signed out");
    }
    const data = response.status === 204 ? {} : await response.json();
    if (!response.ok) {
      problem(data.error || `${method} ${path}: HTTP ${response.status}`);
      throw new Error(data.error);
    }
    problem("");
    return data;
  }

  function problem(text) {
    const box = document.getElementById("problem");
    box.textContent = text;
    box.hidden = !text;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function button(label, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", action);
    return b;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(rest)}` : `${m}:${two(rest)}`;
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // The stream reconnects by itself and sends Last-Event-ID: the server replays what was missed.
  // A refused reconnect (ivr run restarted: the session is gone) closes it for good; then the
  // page asks who it is, which leads to the sign-in form, or opens a new stream.
  function listen(handlers, onOpen) {
    const link = document.getElementById("link");
    const source = new EventSource("/api/events");
    source.onopen = () => { link.textContent = "connected"; link.dataset.state = "up"; onOpen(); };
    source.onerror = () => {
      link.textContent = "reconnecting…";
      link.dataset.state = "down";
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(() => api("GET", "/api/me").then(() => listen(handlers, onOpen), () => {
          setTimeout(() => listen(handlers, onOpen), 5000);
        }), 2000);
      }
    };
    for (const [type, handle] of Object.entries(handlers)) {
      source.addEventListener(type, (message) => handle(JSON.parse(message.data)));
    }
    source.addEventListener("resync", onOpen);
    return source;
  }

  // A pending callback as a row: number, campaign, when it is due, the caller's message.
  function callbackRow(callback) {
    const row = document.createElement("tr");
    cell(row, callback.number);
    cell(row, callback.campaign);
    cell(row, clock(callback.not_before));
    const message = cell(row, "");
    if (callback.message) {
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = `/api/callbacks/${encodeURIComponent(callback.id)}/message`;
      message.appendChild(audio);
    }
    return row;
  }

  function options(select, values) {
    select.replaceChildren(...values.map((value) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      return option;
    }));
  }

  return { api, problem, cell, button, duration, clock, listen, options, callbackRow };
})();
