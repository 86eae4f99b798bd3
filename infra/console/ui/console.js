// The console's page: the event log, an event, an object's timeline, the consumers, health and the
// audit log, from the console's JSON (infra/console/routes.py); on the local stack (make run) also the
// requests the webhook answered (requests.js). Every value is set as text, never as HTML (page.js):
// a body or an id can never run code here. The URL's hash holds the view and its filters, so a link
// or a reload keeps them.
"use strict";

const FILTERS = ["type", "object", "since", "until", "status"];
let about = { allow_actions: false };
let rows = [];
let selected = -1;
let cursor = null;
let arrival = [];  // an object's timeline in arrival order, as paged so far
let listKey = null;  // the list shown (view, object, filters): opening an event keeps it

function route() {
  const raw = location.hash.replace(/^#/, "");
  const inbox = !raw.startsWith("/") && raw.includes("=");  // a link from the inbox's days: #request=47
  const hash = (inbox ? `requests?${raw}` : raw.replace(/^\//, "")) || (about.requests ? "requests" : "events");
  const [path, search] = hash.split("?");
  const params = new URLSearchParams(search || "");
  const [view, ...rest] = path.split("/");
  return { view, arg: decodeURIComponent(rest.join("/")), params };
}

function go(view, params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) if (value) search.set(name, value);
  const text = search.toString();
  location.hash = `#/${view}${text ? "?" + text : ""}`;
}

function badge(status) {
  const kinds = { PUBLISHED: "ok", IN_PROGRESS: "warn", claimed: "warn", skipped: "bad", enabled: "ok", disabled: "bad", missing: "bad" };
  const words = { PUBLISHED: "published", IN_PROGRESS: "released", claimed: "in progress" };
  return el("span", { class: `badge ${kinds[status] || "same"}` }, words[status] || status || "?");
}

// --- the event log ---------------------------------------------------------------------------
function filtersFromUrl(params) {
  const values = {};
  for (const name of FILTERS) {
    values[name] = params.get(name) || "";
    const input = $(`#filter-${name}`);
    if (input) input.value = values[name];
  }
  return values;
}

async function showEvents(params, more) {
  const filters = filtersFromUrl(params);
  const query = new URLSearchParams();
  for (const name of FILTERS) if (filters[name]) query.set(name, filters[name]);
  if (filters.status === "claimed") query.set("scan", "1");
  if (more && cursor) query.set("cursor", cursor);
  $("#progress").textContent = "reading the event log…";
  const page = await api(`/api/events?${query}`);
  cursor = page.cursor;
  if (!more) rows = [];
  rows = rows.concat(page.events);
  const reached = cursor && page.reached ? ` · looked back to ${when(page.reached)}` : "";
  $("#progress").textContent = `${rows.length} event(s) · ${page.queries} queries${reached}` +
    (cursor ? "" : " · the end of the range") + (page.scanned_all === false ? " · the Scan stopped at its bound" : "") +
    (page.hint ? ` · ${page.hint}` : "");
  $("#more").hidden = !cursor;
  renderRows(filters);
  const open = params.get("event");
  if (open) await showEvent(open);
}

function renderRows(filters) {
  const body = rows.map((row, index) => el("tr", { "data-event": row.event_id, onclick: () => openRow(index) },
    el("td", { class: "when" }, when(row.created) || when(row.recovered_at)),
    el("td", { class: "status" }, badge(row.status)),
    el("td", { class: "event" }, el("div", { class: "type", title: row.event_type || "" }, row.event_type || ""), el("div", { class: "id", title: row.event_id }, row.event_id)),
    el("td", { class: "wide" }, row.object_id ? el("a", { class: "object", title: row.object_id, href: `#/object/${encodeURIComponent(row.object_id)}` }, row.object_id) : "",
      row.reason ? el("div", { class: "why" }, row.reason) : null)));
  const empty = filters && filters.status === "claimed" ? "No claim is held now." : "No event in this range.";
  $("#list").replaceChildren(rows.length ? table([["created", "when"], ["status"], ["event"], ["object", "wide"]], body, "events") :
    el("p", { class: "muted" }, empty));
  selected = -1;
}

function openRow(index) {
  const { view, arg, params } = route();
  const row = rows[index];
  if (!row) return;
  select(index);
  const values = Object.fromEntries(params.entries());
  values.event = row.event_id;
  go(view === "object" ? `object/${encodeURIComponent(arg)}` : "events", values);
}

function select(index) {
  const trs = document.querySelectorAll("#list tbody tr");
  if (!trs.length) return;
  selected = Math.max(0, Math.min(index, trs.length - 1));
  trs.forEach((tr, i) => tr.classList.toggle("selected", i === selected));
  trs[selected].scrollIntoView({ block: "nearest" });
}

// --- one event -------------------------------------------------------------------------------
function shownValue(name, value) {
  if (typeof value === "object" && value !== null) return JSON.stringify(value).replaceAll(",", ", ");
  return isTime(name, value) ? `${when(value)} UTC (${value})` : String(value);
}

function dl(values) {
  return el("dl", {}, Object.entries(values || {}).flatMap(([name, value]) => {
    const shown = shownValue(name, value);
    const json = typeof value === "object" && value !== null;
    return [el("dt", {}, name), el("dd", { class: json ? "json" : "token", title: json ? null : shown }, shown)];
  }));
}

function actionButton(label, kind, target, verdict) {
  const reason = about.allow_actions ? null : "read-only: start the console with --allow-actions";
  return el("button", { class: "act", disabled: !!reason, title: reason, "data-kind": kind,
    onclick: () => act(kind, target, verdict) }, label);
}

async function act(kind, target, verdict) {
  try {
    const plan = await api("/api/plan", { kind, target, verdict });
    if (!window.confirm(`This will ${plan.says}.\n\nIt is recorded with your identity. Go on?`)) return;
    const done = await api("/api/actions", { kind, target, verdict, confirmed: true });
    problem("");
    notice(`Done: ${plan.says}. ${doneWords(kind, done)}`);
    listKey = null;  // the list and the open event show what changed
    render();
  } catch (error) {
    problem(error.message);
  }
}

function doneWords(kind, done) {
  if (kind === "redrive") return `${done.moved} message${done.moved === 1 ? "" : "s"} moved back to the queue.`;
  if (kind === "resend") return `Published as message ${done.message_id}.`;
  return done.happened ? "Recorded: it happened, it is not attempted again." : "Recorded: it did not happen, a redrive attempts it once.";
}

async function showEvent(eventId) {
  const detail = await api(`/api/events/${encodeURIComponent(eventId)}`);
  const entry = detail.entry || {};
  const parts = [el("h2", {}, entry.event_type || eventId, " ", badge(entry.status)),
    el("p", { class: "id" }, copyable(eventId)),
    entry.object_id ? el("p", { class: "id" }, copyable(entry.object_id), " ",
      el("a", { class: "object", href: `#/object/${encodeURIComponent(entry.object_id)}` }, "its timeline")) : null];
  parts.push(el("div", { class: "actions" }, actionButton("resend to every subscriber", "resend", eventId)));
  if (detail.body_problem) parts.push(el("p", { class: "why" }, `The stored body cannot be read: ${detail.body_problem}`));
  if (detail.trace) parts.push(traceLinks(detail.trace));
  parts.push(el("h3", {}, "actions"));
  parts.push(detail.actions && detail.actions.length ? table([["time"], ["function"], ["outcome"], ["key"], ["why"]],
    detail.actions.map((o) => el("tr", { class: `outcome-${o.outcome}` }, el("td", { title: when(o.time) }, when(o.time).slice(11)),
      el("td", { class: "function" }, ident(o.function)),
      el("td", {}, o.outcome, o.dead_lettered ? el("div", { class: "why" }, `receive ${o.receive_count}: moved to the dead-letter queue`) : null),
      el("td", { class: "key" }, o.business_key ? ident(o.business_key) : ""), el("td", {}, o.reason || ""))), "action-outcomes") :
    el("p", { class: "muted" }, "No action logged anything about this event."));
  parts.push(el("h3", {}, "records"));
  parts.push((detail.records || []).length ? el("div", { id: "records" }, detail.records.map((r) => el("div", {},
    el("p", {}, el("code", {}, `${r.pk} / ${r.sk}`), " ", r.record === null ? el("span", { class: "muted" }, "no record") :
      el("span", { class: r.written_by_this_event ? "record-own" : "record-stale" },
        r.written_by_this_event ? "written by this event" : `kept from ${r.record.last_event_id} (this event was older or lost a tie)`)),
    r.record ? dl(r.record) : null))) : el("p", { class: "muted" }, "No handler keeps a record for this type."));
  if (detail.message) {
    parts.push(el("h3", {}, `message as published (${detail.message.bytes} bytes)`));
    parts.push(table([["attribute"], ["value"]], Object.entries(detail.message.attributes).map(([name, value]) =>
      el("tr", {}, el("td", {}, name), el("td", {}, value.StringValue))), "message-attributes"));
  }
  parts.push(el("h3", {}, "body"));
  if (detail.body == null && !detail.body_problem) {
    parts.push(el("p", { class: "muted" }, "Not stored yet: the body is kept when the event is published or released."));
  }
  let body = detail.body || "";
  try { body = JSON.stringify(JSON.parse(body), null, 2); } catch (error) { /* shown as stored */ }
  parts.push(el("pre", { id: "body" }, body));
  parts.push(el("h3", {}, "event log entry"), dl(entry));
  $("#detail").replaceChildren(...parts);
  $("#detail-pane").hidden = false;
}

function traceLinks(trace) {
  const away = { target: "_blank", rel: "noopener noreferrer" };
  return el("p", { id: "trace" }, "X-Ray: ",
    trace.trace_url ? el("a", { href: trace.trace_url, ...away }, `the trace that published it (${trace.trace_id})`) :
      el("span", { class: "muted" }, "no trace kept (Tracing off, or not sampled)"),
    " · ", el("a", { href: trace.search_url, ...away }, "every trace of this event"), " ", el("code", {}, trace.search));
}

// --- an object's timeline --------------------------------------------------------------------
async function showObject(objectId, params, more) {
  const query = more && cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  const found = await api(`/api/objects/${encodeURIComponent(objectId)}${query}`);
  const byTime = (name) => (a, b) => (a[name] - b[name]) || a.event_id.localeCompare(b.event_id);
  rows = (more ? rows.concat(found.created) : found.created).sort(byTime("created"));
  arrival = (more ? arrival.concat(found.arrival) : found.arrival).sort(byTime("received_at"));
  cursor = found.cursor;
  renderRows();
  const record = found.record ? [el("h3", {}, "current record"), dl(found.record)] : [el("p", { class: "muted" }, "No record for this object.")];
  $("#list").prepend(el("h2", { class: "card" }, `${objectId}: ${rows.length} event(s), in created order`));
  $("#list").append(el("h3", { class: "card" }, "in arrival order"),
    el("ol", { class: "card", id: "arrival" }, arrival.map((e) => el("li", {}, `${when(e.received_at)} ${e.event_type} ${e.event_id}`))),
    el("section", { class: "card", id: "current-record" }, record));
  $("#progress").textContent = cursor ? `the ${rows.length} newest events are shown` : "";
  $("#more").hidden = !cursor;
  const open = params.get("event");
  if (open) await showEvent(open);
}

// --- consumers, health, audit ------------------------------------------------------------------
async function showConsumers() {
  const found = await api("/api/consumers");
  const parts = found.queues.map((q) => el("section", { class: "card queue", "data-queue": q.name },
    el("h2", {}, q.name),
    el("p", {}, `waiting ${q.waiting} · in flight ${q.in_flight}`, q.dead_letter ?
      ` · dead-letter queue ${q.dead_letter.waiting} (after ${q.max_receives} receives)` : " · no dead-letter queue"),
    q.dead_letter && q.dead_letter.waiting + q.dead_letter.in_flight > 0 ?
      el("div", { class: "actions" }, actionButton("redrive its dead letters", "redrive", q.name)) : null,
    (q.dead_lettered || []).length ? table([["time"], ["action"], ["event, or the message"], ["outcome"], ["why"], ["receives", "num"]],
      q.dead_lettered.map((m) => el("tr", { class: `outcome-${m.outcome}` }, el("td", {}, when(m.time)), el("td", {}, m.action || "none could read it"),
        el("td", {}, m.event_id ? el("a", { href: `#/events?event=${encodeURIComponent(m.event_id)}` }, m.event_id) : m.business_key),
        el("td", {}, m.outcome), el("td", {}, m.reason || ""), el("td", { class: "num" }, m.receive_count))), "dead-lettered") :
      q.dead_letter ? el("p", { class: "muted" }, q.described_by_logs ? "Its log names no dead-lettered message." :
        "No action log describes this queue's messages.") : null));
  parts.push(el("section", { class: "card" }, el("h2", {}, "uncertain effects"), found.effects.length ?
    table([["effect"], ["status"], ["started"], ["why"], ["settle"]], found.effects.map((e) => el("tr", {},
      el("td", {}, e.effect), el("td", {}, e.status), el("td", {}, when(e.started_at)), el("td", {}, e.reason || ""),
      el("td", {}, actionButton("it happened", "settle", e.effect, "happened"), " ",
        actionButton("it did not", "settle", e.effect, "not-happened"))))) :
    el("p", { class: "muted" }, "No effect waits to be settled."),
    (found.refused || []).length ? el("div", {}, el("h2", {}, "refused for good (recorded, not retried)"),
      table([["effect"], ["refused"], ["code"]], found.refused.map((e) => el("tr", {},
        el("td", {}, e.effect), el("td", {}, when(e.started_at)), el("td", {}, e.reason || ""))))) : null,
    found.effects_complete ? null : el("p", { class: "why" }, "The list stopped at its bound: ops effects lists them all.")));
  $("#list").replaceChildren(...parts);
}

async function showHealth() {
  const h = await api("/api/health");
  const r = h.reconciler;
  const parts = [el("section", { class: "card" }, el("h2", {}, "reconciler"), r ? dl({
    "last run": when(r.last_run), "behind by": r.lag_seconds === null ? "no window done" : `${r.lag_seconds} s`,
    "recovered (kept)": r.recovered, "skipped (kept)": r.skipped, retrying: Object.keys(r.retrying).length }) :
    el("p", { class: "muted" }, "No run yet (it runs with StripeApiKeySecretArn set)."),
  r ? el("p", {}, el("a", { href: "#/events?status=recovered" }, "recovered events"), " · ",
    el("a", { href: "#/events?status=skipped" }, "skipped events")) : null)];
  const statuses = r ? r.endpoints : {};
  parts.push(el("section", { class: "card" }, el("h2", {}, "Stripe endpoints"), h.endpoints.length ?
    table([["endpoint"], ["url", "wide"], ["status"]], h.endpoints.map((e) => el("tr", {}, el("td", {}, e.id),
      el("td", { class: "wide" }, e.url), el("td", {}, badge(statuses[e.id] || "unknown"))))) :
    el("p", { class: "muted" }, "None recorded (ops register records them).")));
  parts.push(el("section", { class: "card", id: "alarms" }, el("h2", {}, "alarms in ALARM"), !h.alarms_known ?
    el("p", { class: "muted" }, "The local stack has no alarms.") : h.alarms.length ?
      el("ul", {}, h.alarms.map((a) => el("li", {}, el("b", {}, a.name), ` ${a.reason}`))) : el("p", {}, "None.")));
  if (h.dashboard) parts.push(el("p", { class: "card" }, el("a", { href: h.dashboard, rel: "noreferrer" }, "CloudWatch dashboard")));
  $("#list").replaceChildren(...parts);
}

async function showAudit() {
  const found = await api("/api/audit");
  $("#list").replaceChildren(found.entries.length ? table([["time"], ["who"], ["action"], ["target"], ["status"], ["result", "wide"]],
    found.entries.map((e) => el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.who), el("td", {}, e.action),
      el("td", {}, e.target), el("td", {}, e.status), el("td", { class: "wide" }, JSON.stringify(e.result || {})))), "audit") :
    el("p", { class: "muted card" }, "Nothing was changed from the console."));
}

// On the local stack the event log is live too: a request that reached the stack reads the first
// page again, unless an event is open or older pages are shown (nothing moves under the reader).
let rereading = null;
function eventsMoved() {
  if (route().view !== "events" || !$("#detail-pane").hidden || rows.length > 50 || rereading) return;
  rereading = setTimeout(() => { rereading = null; listKey = null; render(false); }, 700);
}

// --- the page --------------------------------------------------------------------------------
const LIST_VIEWS = ["events", "object"];

function showFilters(view) {
  const shown = LIST_VIEWS.includes(view) ? "events" : view;
  $("#filters").hidden = !["events", "requests"].includes(shown);
  for (const field of document.querySelectorAll("#filters [data-views]")) {
    field.hidden = !field.dataset.views.split(" ").includes(shown);
  }
}

async function render(more) {
  const { view, arg, params } = route();
  const rest = new URLSearchParams(params);
  const open = rest.get("event");
  rest.delete("event");
  const key = `${view}/${arg}?${rest}`;
  if (!more && key === listKey && LIST_VIEWS.includes(view)) {  // only the open event changed
    try { if (open) await showEvent(open); else $("#detail-pane").hidden = true; } catch (error) { problem(error.message); }
    return;
  }
  listKey = key;
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("current",
    a.dataset.tab === view || (view === "object" && a.dataset.tab === "events")));
  showFilters(view);
  if (!more) { $("#detail-pane").hidden = true; $("#progress").textContent = ""; $("#more").hidden = true; }
  try {
    problem("");
    if (view === "requests" && about.requests) await Requests.show(params);
    else if (view === "object") await showObject(arg, params, more);
    else if (view === "consumers") await showConsumers();
    else if (view === "health") await showHealth();
    else if (view === "audit") await showAudit();
    else await showEvents(params, more);
  } catch (error) {
    problem(error.message);
    $("#progress").textContent = "";
  }
}

$("#filters").addEventListener("submit", (event) => {
  event.preventDefault();
  if (route().view === "requests") { Requests.filter(); return; }
  const values = {};
  for (const name of FILTERS) values[name] = $(`#filter-${name}`).value.trim();
  go("events", values);
});
$("#filters").addEventListener("input", () => { if (route().view === "requests") Requests.filter(); });
$("#filters").addEventListener("reset", () => setTimeout(() => {
  if (route().view === "requests") Requests.filter(); else go("events", {});
}, 0));
$("#more").addEventListener("click", () => render(true));
window.addEventListener("hashchange", () => render(false));
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea")) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const tabs = [...document.querySelectorAll("#tabs a:not([hidden])")].map((a) => a.dataset.tab);
  const { view, arg, params } = route();
  if (tabs[Number(event.key) - 1]) go(tabs[Number(event.key) - 1]);
  else if (view === "requests" && about.requests) { if (!Requests.key(event.key)) return; }
  else if (event.key === "j" || event.key === "ArrowDown") select(selected + 1);
  else if (event.key === "k" || event.key === "ArrowUp") select(selected - 1);
  else if (event.key === "Enter" && selected >= 0) openRow(selected);
  else if (event.key === "Escape") {
    const values = Object.fromEntries(params.entries());
    delete values.event;
    go(view === "object" ? `object/${encodeURIComponent(arg)}` : view, values);
  }
  else if (event.key === "/") $("#filter-object").focus();
  else if (event.key === "t" && rows[selected] && rows[selected].object_id) go(`object/${encodeURIComponent(rows[selected].object_id)}`);
  else return;
  event.preventDefault();
});

api("/api/about").then((found) => {
  about = found;
  if (/(?:^#|[#&])token=/.test(location.hash)) history.replaceState(null, "", "#");  // kept for this tab (page.js)
  $("#title").textContent = `Webhook console · ${found.local ? "local stack" : found.stack}`;
  $("#event-types").replaceChildren(...found.event_types.map((type) => el("option", { value: type })));
  $("#who").textContent = `${found.who}${found.region ? " · " + found.region : ""} · ${found.allow_actions ? "actions allowed" : "read-only"}`;
  $('#tabs a[data-tab="requests"]').hidden = !found.requests;
  $("#live").hidden = !found.requests;
  if (found.requests) {
    Requests.onRequest(eventsMoved);
    Requests.listen();
  }
  render(false);
}).catch((error) => problem(error.message));
