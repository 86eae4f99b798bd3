// The console's requests view, on the local stack only (make run): every HTTP request the webhook
// answered, refused ones too and why, with replay, resend and redrive, the tracebacks beside them, and
// live updates. Built with page.js's helpers: every value from a request is text, never HTML.
"use strict";

const Requests = (() => {
const state = { rows: [], lastSeq: 0, selected: null, filters: {}, size: 0, maxBytes: 0, recorded: 0, held: 0, oldest: 0 };
const FIELDS = { type: "#filter-type", class: "#filter-class", object: "#filter-object", q: "#filter-text" };
const shown = () => route().view === "requests";
const others = [];  // the other views' hooks: a request reached the stack (``onRequest``)

// The page's address keeps what it shows: #/requests?type=charge.&request=47
function remember() {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(state.filters)) if (value) params.set(name, value);
  if (state.selected && !$("#detail-pane").hidden) params.set("request", String(state.selected));
  const text = params.toString();
  history.replaceState(null, "", `#/requests${text ? "?" + text : ""}`);
}

function query(extra = {}) {
  const { class: status, ...rest } = state.filters;  // the API's status filter: a class, 2xx/4xx/5xx
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...rest, status, ...extra })) if (value) params.set(name, value);
  return params.toString();
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

// A Unix time as people read it: the UTC date and time, and how long ago; the raw value on hover.
function humanTime(seconds) {
  return el("span", { class: "time", text: `${when(seconds)} UTC (${ago(seconds)})`, title: `${seconds} · ${new Date(seconds * 1000).toISOString()}` });
}

// A status as a badge: an icon and a word as well as a colour, so that no one needs the colour.
const BADGES = {
  processed: ["✓", "ok"], unhandled: ["✓", "ok"], duplicate: ["=", "same"], recovered: ["↻", "recovered"],
};

// A refusal's code in a few words for the badge (the code on hover; the detail says why).
const BADGE_WORDS = {
  signature_mismatch: "bad signature", timestamp_out_of_tolerance: "stale signature",
  missing_signature_header: "no signature", malformed_signature_header: "bad signature header",
  invalid_payload: "not JSON", not_an_event: "not an event", payload_too_large: "too large",
  method_not_allowed: "wrong method", not_found: "not found", handler_failed: "handler failed",
};

function badge(entry) {
  const [icon, kind] = BADGES[entry.verdict] || (entry.status >= 500 ? ["‼", "bad"] : entry.status >= 400 ? ["✗", "warn"] : ["•", "ok"]);
  const code = entry.verdict.replace(/^(rejected|failed): /, "");  // the icon and the status say which
  const word = BADGE_WORDS[code] || code;  // the code itself on hover, and in the detail
  const text = entry.status === 200 ? `${icon} ${entry.verdict}` : `${icon} ${entry.status} ${word}`;
  const marks = [el("span", { class: `badge ${kind}`, text, title: `${entry.status} ${entry.verdict}` })];
  if (entry.records_stale) marks.push(el("span", { class: "badge stale", text: "↓ stale", title: "an older event: its record was not overwritten" }));
  if (entry.twin) marks.push(el("span", { class: "badge thin", text: "thin", title: `the thin twin of ${entry.twin}` }));
  return marks;
}

function row(entry) {
  // the webhook's own POST goes without saying; anything else is named
  const path = entry.method === "POST" && entry.path === "/webhook" ? "" : entry.method === "POST" && entry.path === "/webhook/thin" ? "thin" : `${entry.method} ${entry.path}`;
  const cut = (value) => ({ title: value || null });  // a cell that may be cut shows its whole value on hover
  return el("tr", { "data-seq": String(entry.seq), onclick: () => select(entry.seq, true) },
    el("td", { class: "when", text: clock(entry.time), title: `${when(entry.time)} UTC, ${ago(entry.time)}` }),
    el("td", { class: "status" }, ...badge(entry)),
    el("td", { class: "event", ...cut([entry.event_type || path, entry.event_id].filter(Boolean).join(" · ")) },
      entry.event_type ? el("div", { class: "type", text: entry.event_type }) : el("div", { class: "route", text: path || "-" }),
      el("div", { class: "id", text: entry.event_id || "" })),
    el("td", { class: "object", ...cut([entry.object_id, entry.account].filter(Boolean).join(" · ")) },
      el("div", { class: "id", text: entry.object_id || "" }),
      entry.account ? el("div", { class: "id account", text: entry.account }) : null),
    el("td", { class: "path", ...cut(path), text: path }),
    el("td", { class: "num", text: `${Math.round(entry.latency_ms)} ms` }));
}

function skeleton() {
  const heads = [["time", "when"], ["status", "status"], ["event", "event"], ["object · account", "object"], ["path", "path"], ["latency", "num"]];
  $("#list").replaceChildren(
    el("table", { id: "requests" }, el("thead", {}, el("tr", {}, heads.map(([name, cls]) =>
      el("th", { class: cls, title: cls === "path" ? "POST /webhook unless named" : null }, name)))), el("tbody")),
    el("p", { id: "empty", class: "muted" }, "No requests yet. Send one: ", el("code", {}, 'make trigger ARGS="--flow checkout"')),
    el("p", {}, el("span", { id: "counts" }), " ", el("span", { id: "retention", class: "muted" })));
}

function renderList(fresh = []) {
  if (!$("#requests")) return;  // another view is shown
  const body = $("#requests").querySelector("tbody");
  body.replaceChildren(...state.rows.map((entry) => {
    const tr = row(entry);
    if (fresh.includes(entry.seq) || entry.seq === state.made) tr.classList.add("new");
    if (entry.seq === state.selected) tr.classList.add("selected");
    return tr;
  }));
  $("#empty").hidden = state.rows.length > 0;
  const dropped = Math.max(0, state.recorded - state.held);
  $("#counts").textContent = `${state.recorded.toLocaleString()} request${state.recorded === 1 ? "" : "s"}, ${state.rows.length.toLocaleString()} shown`
    + (dropped ? `, ${dropped.toLocaleString()} older dropped` : "");
  const mib = Math.round(state.maxBytes / 1048576);
  $("#retention").textContent = `Keeps the last ${state.size.toLocaleString()} requests or ${mib} MiB of them,`
    + " whichever is less; older ones are dropped (--inbox-size).";
}

// One fetch of the list at a time, in order: a reset's (the view shown) and the stream's (what came
// since) never cross, so each request is listed once and only new ones flash.
let pending = Promise.resolve();
function refresh(reset = false) {
  const run = pending.then(() => load(reset));
  pending = run.catch(() => {});
  return run;
}

async function load(reset) {
  if (!shown()) return;  // the view fetches afresh when it is shown again
  if (reset) { state.rows = []; state.lastSeq = 0; }
  try {
    const found = await api(`/api/requests?${query({ after: String(state.lastSeq) })}`);
    state.size = found.size;
    state.maxBytes = found.max_bytes;
    state.oldest = found.oldest;
    const countsChanged = state.recorded !== found.recorded;
    state.recorded = found.recorded;
    state.held = found.held;
    if (found.requests.length || reset || countsChanged) {
      // two refreshes may overlap (the stream's and an action's): each request is listed once
      const listed = new Set(state.rows.map((entry) => entry.seq));
      state.rows = found.requests.filter((entry) => !listed.has(entry.seq)).concat(state.rows)
        .filter((entry) => entry.seq >= state.oldest).slice(0, state.size);
      state.lastSeq = Math.max(state.lastSeq, ...found.requests.map((entry) => entry.seq));
      renderList(reset ? [] : found.requests.map((entry) => entry.seq));
    }
  } catch (error) {
    stopped(`the stack does not answer (${error.message})`);
  }
}

// Live updates without polling: the server streams what changed (Server-Sent Events, read with
// fetch so a public console's token goes in a header, never in a URL); the page fetches only then.
let refreshing = null;
let again = false;
function refreshSoon() {  // coalesced: a burst of requests is one fetch, plus one for what came during it
  if (refreshing) { again = true; return; }
  refreshing = refresh().finally(() => { refreshing = null; if (again) { again = false; refreshSoon(); } });
}

async function outcomeArrived(eventId) {
  if ($("#detail-pane").hidden || !$("#action-replay") || state.openEvent !== eventId) return;
  const detail = await api(`/api/requests/${state.selected}`);
  const part = actionsPart(detail.actions || []);
  const shown = $("#actions-part");
  if (shown) shown.replaceWith(part); else $("#detail").append(part);
}

function changed(block) {
  const kind = (/^event: (.*)$/m.exec(block) || [])[1];
  const data = JSON.parse((/^data: (.*)$/m.exec(block) || [null, "{}"])[1]);
  if (kind === "request") { refreshSoon(); others.forEach((notify) => notify()); }
  else if (kind === "reset") refresh(true);
  else if (kind === "outcome") outcomeArrived(data.value).catch(() => {});
}

// A stopped stack is said plainly, and nothing that needs it can be pressed until it is back.
function stopped(why) {
  state.stopped = true;
  document.body.classList.add("stopped");
  $("#live").textContent = "stopped";
  $("#stopped").hidden = false;
  $("#stopped").textContent = `Stack stopped: ${why}. Start it again with make run; this page reconnects by itself. Replay, resend and redrive are off until then.`;
  for (const button of document.querySelectorAll("button.act")) button.disabled = true;
}

function running() {
  state.stopped = false;
  document.body.classList.remove("stopped");
  $("#live").textContent = "live";
  $("#stopped").hidden = true;
  // each button as the open request allows it (a refused request's stay off)
  for (const button of document.querySelectorAll("button.act")) button.disabled = button.hasAttribute("data-refused");
}

async function listen() {
  for (let wait = 500; ; wait = Math.min(wait * 2, 8000)) {
    try {
      const response = await fetch("/api/stream", { headers: AUTH, credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      await refresh();  // whatever happened while the page was not listening
      running();
      wait = 500;
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          changed(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      stopped("the stack stopped");
    } catch (error) {
      stopped(`the stack does not answer (${error.message})`);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

// Every part of the detail folds (a native <details>: no script needed to open or close it).
function section(title, ...content) {
  return el("details", { class: "part", open: "" }, el("summary", {}, el("h3", { text: title })), ...content);
}

// JSON as a tree: objects and arrays fold, values are coloured by kind. Built from text nodes only,
// so a body can never become markup.
const OPEN_LEVELS = 3;  // the event, its data and its object open; deeper ones folded

function jsonView(value, key = null, depth = 0) {
  const label = key === null ? [] : [el("span", { class: "json-key", text: JSON.stringify(key) }), ": "];
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
    const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    const size = `${entries.length} ${Array.isArray(value) ? "item" : "key"}${entries.length === 1 ? "" : "s"}`;
    return el("details", { class: "json", open: depth < OPEN_LEVELS ? "" : null },
      el("summary", {}, ...label, `${open}`, el("span", { class: "json-size", text: ` ${size} ` }), close),
      ...entries.map(([name, item]) => jsonView(item, Array.isArray(value) ? null : name, depth + 1)));
  }
  const kind = value === null ? "null" : typeof value;
  return el("div", { class: "json-leaf" }, ...label, el("span", { class: `json-${kind}`, text: JSON.stringify(value) }));
}

function codeBlock(title, text, { open = true } = {}) {
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  const tree = parsed !== undefined && typeof parsed === "object" && parsed !== null;
  const raw = el("pre", { text: tree ? text : pretty(text), hidden: tree ? "" : null });
  const view = tree ? el("div", { class: "json-view" }, jsonView(parsed)) : null;
  const copy = el("button", { type: "button", class: "copy", text: "copy", onclick: async (event) => {
    event.preventDefault();
    await navigator.clipboard.writeText(text).catch(() => {});
    copy.textContent = "copied";
  } });
  const toggle = tree ? el("button", { type: "button", class: "raw", text: "raw", onclick: (event) => {
    event.preventDefault();
    raw.hidden = !raw.hidden;
    view.hidden = !raw.hidden;
    toggle.textContent = raw.hidden ? "raw" : "tree";
  } }) : null;
  return el("details", { class: "part", open: open ? "" : null },
    el("summary", { class: "block-head" }, el("h3", { text: title }), el("span", {}, toggle, copy)), view, raw);
}

function pairs(values) {
  const list = el("dl");
  for (const [name, value] of Object.entries(values || {})) {
    const shown = isTime(name, value) ? humanTime(value) : typeof value === "string" ? value : JSON.stringify(value);
    list.append(el("dt", { text: name }), el("dd", {}, shown));
  }
  return list;
}

function objectLink(objectId) {
  return el("a", { class: "object", text: objectId, title: "this object's timeline (t)", onclick: () => showTimeline(objectId) });
}

async function select(seq, open) {
  state.selected = seq;
  for (const tr of document.querySelectorAll("#requests tbody tr")) tr.classList.toggle("selected", tr.dataset.seq === String(seq));
  const current = document.querySelector("#requests tbody tr.selected");
  if (current) current.scrollIntoView({ block: "nearest" });
  if (open) await showDetail(seq);
}

const RISKY = {
  resend: "Resend as a new event? It is processed again: its record is rewritten and the actions run for it.",
  redrive: "Redrive to the consumer queue? Consumers receive the event again.",
};

// ``said``: what an action just did, shown above the detail it changed (re-read, so its deliveries,
// records and outcomes are current).
async function showDetail(seq, said = null) {
  const pane = $("#detail-pane");
  pane.hidden = false;
  state.selected = seq;
  remember();
  let detail;
  try { detail = await api(`/api/requests/${seq}`); } catch (error) {
    $("#detail").replaceChildren(el("p", { text: error.message }));
    return;
  }
  state.openEvent = detail.event_id;  // an outcome for it updates the open detail (outcomeArrived)
  const result = said || el("div", { class: "result", hidden: "" });
  const refusal = (action) => (detail.available || {})[action];
  const act = (action, label) => el("button", { type: "button", id: `action-${action}`, class: "act", text: label,
    disabled: refusal(action) || state.stopped ? "" : null, title: refusal(action) || null,
    "data-refused": refusal(action) ? "" : null, onclick: async () => {
    if (RISKY[action] && !confirm(RISKY[action])) return;
    result.hidden = false;
    result.textContent = `${label}…`;
    try {
      const answer = await api(`/api/requests/${seq}/${action}`, {});
      const done = el("div", { class: "result" }, actionSummary(action, answer));
      if (answer.seq) {  // the request it made: linked, and highlighted in the list
        done.append(" ", el("a", { id: "made", href: "#", text: `open #${answer.seq}`, onclick: (event) => { event.preventDefault(); select(answer.seq, true); } }));
        state.made = answer.seq;  // stays highlighted across the list's refreshes
      }
      await refresh();
      if (state.selected === seq) await showDetail(seq, done);
    } catch (error) { result.textContent = `${label} failed: ${error.message}`; }
  } });
  const summary = {
    received_at: Math.floor(detail.time), latency: `${Math.round(detail.latency_ms)} ms`,
    "event id": detail.event_id || "-", "event type": detail.event_type || "-", account: detail.account || "-",
  };
  // What happened first: the outcome, then why it failed, then every delivery; the rest below
  const parts = [
    el("h2", { text: `#${detail.seq} ${detail.method} ${detail.path}` }),
    el("p", { class: "outcome" }, ...badge(detail), detail.object_id ? " object " : null, detail.object_id ? objectLink(detail.object_id) : null),
    detail.why ? el("p", { class: "why", id: "why", text: `Refused: ${detail.why}.` }) : null,
    detail.event_log_problem ? el("p", { class: "why", id: "event-log-problem", text: `The stored event cannot be read: ${detail.event_log_problem}` }) : null,
    detail.traceback ? section("Traceback (what the function raised; shown on the local stack only)", el("pre", { id: "traceback", text: detail.traceback })) : null,
    attemptsPart(detail),
    el("div", { class: "actions" },
      act("replay", "Replay"), act("resend", "Resend as new"), act("redrive", "Redrive to the queue")),
    result,
    detail.actions && detail.actions.length ? actionsPart(detail.actions) : null,
    pairs(summary),
  ];
  for (const record of detail.records || []) {
    parts.push(codeBlock(`Record ${record.key}: ${record.effect}`, JSON.stringify(record.stored)));
  }
  if (!detail.records && detail.record) parts.push(codeBlock("Current record", JSON.stringify(detail.record)));
  if (detail.message) {
    const copies = detail.message.copies;
    const source = copies ? `as a queue on the topic received it${copies > 1 ? ` (${copies} copies were published)` : ""}` : "as published (no queue copy seen)";
    parts.push(section(`Message on the consumer queue, ${source}`, pairs(detail.message.attributes)));
    parts.push(codeBlock("Message body", detail.message.body));
  }
  parts.push(codeBlock("Body", detail.body), codeBlock("Response", detail.response), section("Request headers", pairs(detail.headers)));
  if (detail.event_log) parts.push(section("Event log", pairs(detail.event_log)));
  if (detail.fetches && detail.fetches.length) {
    parts.push(section("Fetched from the Stripe API (the local stand-in)", el("ul", {},
      ...detail.fetches.map((fetch) => el("li", { text: `${clock(fetch.time)}  GET ${fetch.path}  ${fetch.status}${fetch.context ? `  Stripe-Context ${fetch.context}` : ""}` })))));
  }
  $("#detail").replaceChildren(...parts.filter((part) => part !== null && part !== undefined));
}

// Every delivery of the open request's event (Stripe's retries, replays, the thin twin), near the top.
function attemptsPart(detail) {
  const attempts = detail.attempts || [];
  if (attempts.length < 2) return null;
  return section(`Deliveries of this event (${attempts.length})`, el("table", { id: "attempts" },
    el("thead", {}, el("tr", {}, ...["#", "time", "status", "ms"].map((name) => el("th", { text: name })))),
    el("tbody", {}, ...attempts.map((attempt) => el("tr", { class: attempt.seq === detail.seq ? "selected" : "", onclick: () => select(attempt.seq, true) },
      el("td", { text: `#${attempt.seq}` }), el("td", { class: "when", text: clock(attempt.time) }),
      el("td", { class: "status" }, ...badge(attempt)), el("td", { class: "num", text: `${Math.round(attempt.latency_ms)} ms` }))))));
}

// An action's answer in words, not JSON.
function actionSummary(action, answer) {
  const response = answer.response || {};
  const outcome = response.status || response.error || "";
  const written = response.records_written ? `, ${response.records_written} record${response.records_written === 1 ? "" : "s"} written` : "";
  if (action === "replay") return `Replayed the same event: ${answer.status} ${outcome}${written}.`;
  if (action === "resend") return `Resent as a new event ${answer.event_id}: ${answer.status} ${outcome}${written} (${answer.note}).`;
  return `Redriven to the ${answer.queue} queue: message ${answer.message_id} sent.`;
}

// What the example actions did with the open request's event: replaced in place when an outcome
// arrives (outcomeArrived).
function actionsPart(outcomes) {
  const part = section("What the example actions did with it", actionOutcomes(outcomes));
  part.id = "actions-part";
  return part;
}

function actionOutcomes(outcomes) {
  return el("table", { id: "action-outcomes" },
    el("thead", {}, el("tr", {}, ...["time", "action", "business key", "outcome", "detail"].map((name) => el("th", { text: name })))),
    el("tbody", {}, ...outcomes.map((outcome) => el("tr", { class: `outcome-${outcome.status}` },
      el("td", { class: "when", text: clock(outcome.time) }), el("td", { text: outcome.action }),
      el("td", { class: "key" }, ident(outcome.key)), el("td", { text: outcome.status }),
      el("td", { text: outcome.status === "uncertain" ? `${outcome.detail}: make ops ARGS="effects --local"` : outcome.detail })))));
}

async function showTimeline(objectId) {
  $("#detail-pane").hidden = false;
  let timeline;
  try { timeline = await api(`/api/requests/objects/${encodeURIComponent(objectId)}`); } catch (error) {
    $("#detail").replaceChildren(el("p", { text: error.message }));
    return;
  }
  const table = (rows) => el("table", {},
    el("thead", {}, el("tr", {}, ...["#", "created", "type", "event", "effect"].map((name) => el("th", { text: name })))),
    el("tbody", {}, ...rows.map((entry) => el("tr", { onclick: () => select(entry.seq, true) },
      el("td", { text: String(entry.seq) }), el("td", { text: entry.created ? clock(entry.created) : "" }),
      el("td", { text: entry.event_type || "" }), el("td", { text: entry.event_id || "" }),
      el("td", { text: entry.effect })))));
  $("#detail").replaceChildren(
    el("h2", { text: `Timeline of ${objectId}` }),
    section("In arrival order", table(timeline.arrival)),
    section("In created order", table(timeline.created)),
    timeline.record ? codeBlock("Current record", JSON.stringify(timeline.record)) : el("p", { class: "muted", text: "No record stored for this object." }));
}

function move(step) {
  if (!state.rows.length) return;
  const index = state.rows.findIndex((entry) => entry.seq === state.selected);
  const next = Math.min(state.rows.length - 1, Math.max(0, index === -1 ? 0 : index + step));
  select(state.rows[next].seq, !$("#detail-pane").hidden);
}

// A key on the requests view: true when it meant something here.
function key(name) {
  if (name === "j" || name === "ArrowDown") move(1);
  else if (name === "k" || name === "ArrowUp") move(-1);
  else if (name === "Enter" && state.selected) showDetail(state.selected);
  else if (name === "Escape") { $("#detail-pane").hidden = true; remember(); }
  else if (name === "/") $("#filter-text").focus();
  else if (name === "t") {
    const entry = state.rows.find((candidate) => candidate.seq === state.selected);
    if (entry && entry.object_id) showTimeline(entry.object_id);
  } else return false;
  return true;
}

function filter() {
  state.filters = Object.fromEntries(Object.entries(FIELDS).map(([name, field]) => [name, $(field).value.trim()]));
  remember();
  refresh(true);
}

// The view shown (a tab, a link, a reload): its filters and open request from the address.
async function show(params) {
  for (const [name, field] of Object.entries(FIELDS)) $(field).value = params.get(name) || "";
  state.filters = Object.fromEntries(Object.entries(FIELDS).map(([name]) => [name, params.get(name) || ""]));
  skeleton();
  await refresh(true);
  const asked = Number(params.get("request"));
  if (asked) await select(asked, true);
}

// ``notify`` runs whenever a request reaches the stack (the Events tab reads the log again).
function onRequest(notify) { others.push(notify); }

return { show, filter, key, listen, onRequest };
})();
