// What every view of the console shares: building elements (always as text, never as HTML: a body or
// an id can never run code here), ids that never break, times, and the console's JSON.
"use strict";

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// An id is never broken across lines: shown whole or cut with an ellipsis, the whole id on hover
// and a button that copies it.
function ident(value, tag = "span") {
  return el(tag, { class: "ident", title: value }, value);
}

function copyable(value) {
  return el("span", { class: "copyable" }, ident(value),
    el("button", { class: "copy", type: "button", title: `copy ${value}`, onclick: (event) => {
      event.stopPropagation();
      navigator.clipboard.writeText(value).then(() => notice(`Copied ${value}`), () => problem("the browser refused the clipboard"));
    } }, "copy"));
}

// One time rule: UTC, as 2026-12-07 19:40:12; ``clock`` drops the date when it is today's.
function when(seconds) {
  if (!seconds) return "";
  return new Date(Number(seconds) * 1000).toISOString().replace("T", " ").slice(0, 19);
}

function clock(seconds) {
  const full = when(seconds);
  return full.slice(0, 10) === when(Date.now() / 1000).slice(0, 10) ? full.slice(11) : full;
}

// Whether a field holds a Unix time: the server's rule (about.time_fields and time_range, from
// payloads.TIMESTAMP_KEY), so the page has no list of its own.
function isTime(name, value) {
  const [low, high] = about.time_range || [0, 0];
  return Number.isInteger(value) && value >= low && value < high && !!about.time_fields && new RegExp(about.time_fields).test(name);
}

function ago(seconds) {
  const span = Math.round(Date.now() / 1000 - seconds);
  const size = Math.abs(span);
  const amount = size < 5 ? null : size < 60 ? `${size} s` : size < 3600 ? `${Math.floor(size / 60)} min`
    : size < 86400 ? `${Math.floor(size / 3600)} h` : `${Math.floor(size / 86400)} days`;
  return amount === null ? "just now" : span >= 0 ? `${amount} ago` : `in ${amount}`;
}

// A public local console (--inbox-public) is opened with the link the banner prints, #token=…: the
// token goes in a header on every call (never in a URL the page requests), and lives for this tab.
const TOKEN = (() => {
  const found = /(?:^#|[#&?])token=([^&]+)/.exec(location.hash);
  if (found) sessionStorage.setItem("console-token", decodeURIComponent(found[1]));
  return sessionStorage.getItem("console-token");
})();
const AUTH = TOKEN ? { "X-Inbox-Token": TOKEN } : {};

// X-Inbox-Request: a page on another site cannot send it without a CORS preflight, which the
// server refuses; so only this page can change anything.
async function api(path, body) {
  const options = { headers: { "X-Inbox-Request": "1", ...AUTH }, credentials: "same-origin" };
  if (body !== undefined) {
    Object.assign(options, { method: "POST", body: JSON.stringify(body) });
    options.headers["Content-Type"] = "application/json";
  }
  const answer = await fetch(path, options);
  const content = await answer.json().catch(() => ({ message: `HTTP ${answer.status}` }));
  if (!answer.ok) throw new Error(content.message || content.error || `HTTP ${answer.status}`);
  return content;
}

function problem(text) {
  if (text) notice("");
  $("#problem").hidden = !text;
  $("#problem").textContent = text || "";
}

function notice(text) {
  $("#notice").hidden = !text;
  $("#notice").textContent = text || "";
}

function table(headers, body, id) {
  return el("table", { id }, el("thead", {}, el("tr", {}, headers.map(([name, cls]) => el("th", { class: cls }, name)))),
    el("tbody", {}, body));
}
