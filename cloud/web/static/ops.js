// Ops pages: fleet map and table, a cabinet's temperature chart and sessions, alarms, reviews. Live by polling.
const body = document.body;
const t = texts;
const view = body.dataset.view;
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { ok: "#1e9e5a", alarm: "#d68910", offline: "#c0392b" };
let sortKey = "code";

function el(tag, attrs = {}, text = "") {  // an SVG element
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== "") node.textContent = text;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell ?? "";
    tr.appendChild(td);
  }
  return tr;
}

function stateOf(c) { return !c.online ? "offline" : c.alarms.length ? "alarm" : "ok"; }

async function fleet() {
  const data = await api("/fleet");
  const c = data.counts;
  $("counts").replaceChildren(...[[t.cabinets, c.cabinets], [t.online, c.online], [t.offline, c.offline],
    [t.alarms, c.alarms], [t.low_stock, c.low_stock]].map(([label, n]) => {
    const div = document.createElement("div"); div.innerHTML = `<b>${n}</b>`; div.append(label); return div;
  }));
  const lats = data.cabinets.map((x) => x.lat), lons = data.cabinets.map((x) => x.lon);
  const [a, b, cc, d] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const x = (lon) => 60 + ((lon - cc) / Math.max(d - cc, 1e-6)) * 780, y = (lat) => 320 - ((lat - a) / Math.max(b - a, 1e-6)) * 280;
  $("map").replaceChildren(...data.cabinets.flatMap((cab) => {
    const link = el("a", { href: `/ops/cabinets/${cab.code}` });
    link.append(el("circle", { cx: x(cab.lon), cy: y(cab.lat), r: 12, fill: COLOURS[stateOf(cab)], "data-code": cab.code, class: "cabinet-dot" }),
      el("text", { x: x(cab.lon) + 16, y: y(cab.lat) + 5, "font-size": 14 }, `${cab.code}${cab.temperature_c != null ? " · " + cab.temperature_c.toFixed(1) + "°C" : ""}`));
    return [link];
  }));
  const rows = [...data.cabinets].sort((p, q) => (p[sortKey] > q[sortKey] ? 1 : p[sortKey] < q[sortKey] ? -1 : 0));
  document.querySelector("#fleet-table tbody").replaceChildren(...rows.map((cab) => {
    const link = document.createElement("a"); link.href = `/ops/cabinets/${cab.code}`; link.textContent = cab.code;
    const state = document.createElement("span"); state.className = stateOf(cab) === "ok" ? "ok" : "bad"; state.textContent = stateOf(cab);
    return row([link, cab.name, state, cab.temperature_c?.toFixed(1), cab.door_open ? t.open_doors : "", cab.alarms.join(", "), cab.outbox_depth]);
  }));
}

function chart(minutes) {
  const svg = $("chart");
  if (!minutes.length) { svg.replaceChildren(el("text", { x: 20, y: 40 }, "no data yet")); return; }
  const times = minutes.map((m) => Date.parse(m.minute));
  const [t0, t1] = [Math.min(...times), Math.max(...times) + 60000];
  const values = minutes.flatMap((m) => [m.min, m.max]);
  const [lo, hi] = [Math.min(...values, 0) - 1, Math.max(...values, 10) + 1];
  const x = (ms) => 50 + ((ms - t0) / (t1 - t0)) * 830, y = (c) => 230 - ((c - lo) / (hi - lo)) * 210;
  const nodes = [];
  for (const m of minutes.filter((m) => m.door_open)) {
    nodes.push(el("rect", { x: x(Date.parse(m.minute)), y: 20, width: Math.max(2, x(Date.parse(m.minute) + 60000) - x(Date.parse(m.minute))), height: 210, fill: "#fdebd0" }));
  }
  for (const c of [lo, (lo + hi) / 2, hi]) nodes.push(el("text", { x: 4, y: y(c) + 4, "font-size": 11 }, c.toFixed(1) + "°"));
  nodes.push(el("line", { x1: 50, x2: 880, y1: y(8), y2: y(8), stroke: "#c0392b", "stroke-dasharray": "4 4" }));
  const probes = [...new Set(minutes.map((m) => m.probe))];
  probes.forEach((probe, i) => {
    const points = minutes.filter((m) => m.probe === probe).map((m) => `${x(Date.parse(m.minute) + 30000)},${y(m.mean)}`).join(" ");
    const colour = ["#2e86c1", "#8e44ad", "#16a085"][i % 3];
    nodes.push(el("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2, class: "temperature-line" }));
    for (const m of minutes.filter((m) => m.probe === probe)) {
      nodes.push(el("circle", { cx: x(Date.parse(m.minute) + 30000), cy: y(m.mean), r: 3, fill: colour, class: "reading" }));
    }
  });
  svg.replaceChildren(...nodes);
}

async function cabinet() {
  const code = body.dataset.code;
  $("cabinet-title").textContent = code;
  const [telemetry, stock, alarms, sessions] = await Promise.all([api(`/cabinets/${code}/telemetry?hours=6`),
    api(`/cabinets/${code}/stock`), api(`/alarms?cabinet=${code}`), api(`/cabinets/${code}/sessions`)]);
  chart(telemetry.minutes);
  document.querySelector("#stock tbody").replaceChildren(...stock.map((s) => row([`${s.channel}-${s.lane}`, s.sku, s.count])));
  document.querySelector("#cabinet-alarms tbody").replaceChildren(...alarms.map((a) => row([a.kind, a.state, a.opened_at.slice(11, 19), a.detail])));
  document.querySelector("#sessions tbody").replaceChildren(...sessions.map((s) => {
    const trace = document.createElement("pre");
    const r = s.result || {};
    trace.textContent = (r.channels || []).map((c) => `ch${c.channel} Δ${c.delta_g} g ${c.outcome} ${(c.confidence * 100).toFixed(1)}%`).join("\n");
    return row([s.created_at.slice(11, 19), s.mode, s.status, s.amount_fen != null ? yuan(s.amount_fen) : "", (r.lanes || []).map((l) => `${l.sku} ${l.delta}`).join(", "), trace]);
  }));
}

async function alarmList() {
  const alarms = await api("/alarms");
  document.querySelector("#alarm-table tbody").replaceChildren(...alarms.map((a) => {
    const button = document.createElement("button");
    button.textContent = t.ack; button.className = "ack"; button.disabled = a.state !== "open";
    button.onclick = async () => { await api(`/alarms/${a.id}/ack`, { method: "POST" }); refresh(); };
    return row([a.cabinet_code, a.kind, a.key, a.state, a.opened_at.slice(0, 19).replace("T", " "), a.detail, button]);
  }));
}

async function reviewQueue() {
  const sessions = await api("/reviews");
  document.querySelector("#review-table tbody").replaceChildren(...sessions.map((s) => {
    const actions = document.createElement("div");
    s.candidates.forEach((c, i) => {
      const b = document.createElement("button");
      b.textContent = `${t.charge}: ${c.lanes.map((l) => `${l.sku}×${-l.delta}`).join(", ") || "—"} (${(c.probability * 100).toFixed(0)}%)`;
      b.onclick = async () => { await api(`/sessions/${s.session_id}/review`, { method: "POST", body: JSON.stringify({ candidate: i }) }); refresh(); };
      actions.appendChild(b);
    });
    const dismiss = document.createElement("button");
    dismiss.textContent = t.refund;
    dismiss.onclick = async () => { await api(`/sessions/${s.session_id}/review`, { method: "POST", body: JSON.stringify({ dismiss: true }) }); refresh(); };
    actions.appendChild(dismiss);
    return row([s.cabinet_code, s.created_at.slice(0, 19), s.detail, actions]);
  }));
}

const VIEWS = { fleet, cabinet, alarms: alarmList, reviews: reviewQueue };

async function refresh() {
  try { await VIEWS[view](); showError(); } catch (error) { showError(error); }
}

document.querySelectorAll("table.sortable th").forEach((th) => th.onclick = () => { sortKey = th.dataset.key; refresh(); });

$("login").onclick = async () => {
  showError();
  try {
    const answer = await api("/auth/login", { method: "POST", body: JSON.stringify({ username: $("username").value, password: $("password").value }) });
    auth.token = answer.token; start();
  } catch (error) { showError(error); }
};

async function start() {
  try { await api("/auth/me"); } catch { $("staff-signin").hidden = false; return; }
  $("staff-signin").hidden = true;
  $(view).hidden = false;
  await refresh();
  setInterval(refresh, 3000);  // live without reloading
}

start();
