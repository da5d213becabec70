// Ops pages: fleet map and table, a cabinet's charts, stock and sessions, alarms, reviews. Live by polling.
const t = texts;
const view = document.body.dataset.view;
let sortKey = "code";
let fleetMap = null, fleetLayer = null;
const drawn = {};  // what each part last drew: redraw only on change (charts keep their zoom)

function changed(part, data) {
  const text = JSON.stringify(data);
  if (drawn[part] === text) return false;
  drawn[part] = text;
  return true;
}

function stateOf(c) { return !c.online ? "offline" : c.alarms.length ? "alarm" : "ok"; }
function stateLabel(state) { const span = document.createElement("span"); span.className = `state-${state}`; span.textContent = t["state_" + state]; return span; }
function kinds(list) { return list.map((k) => t["alarm_" + k] || k).join("、"); }
function link(href, text) { const a = document.createElement("a"); a.href = href; a.textContent = text; return a; }

async function fleet() {
  const data = await api("/fleet");
  const c = data.counts;
  $("counts").replaceChildren(...[[t.cabinets, c.cabinets], [t.online, c.online], [t.offline, c.offline],
    [t.alarms, c.alarms], [t.low_stock, c.low_stock]].map(([label, n]) => {
    const div = document.createElement("div"); const b = document.createElement("b"); b.textContent = n;
    div.append(b, label); return div;
  }));
  const cabinets = data.cabinets.map((cab) => ({ ...cab, state: stateOf(cab) }));
  if (changed("map", cabinets.map((cab) => [cab.code, cab.state, cab.temperature_c, cab.lat, cab.lon]))) drawFleet(cabinets);
  const rows = [...cabinets].sort((p, q) => (p[sortKey] > q[sortKey] ? 1 : p[sortKey] < q[sortKey] ? -1 : 0));
  document.querySelector("#fleet-table tbody").replaceChildren(...rows.map((cab) => row([
    link(`/ops/cabinets/${cab.code}`, cab.code), localName(cab.name), stateLabel(cab.state), cab.temperature_c?.toFixed(1),
    cab.door_open ? t.open_doors : "", kinds(cab.alarms), cab.outbox_depth])));
}

function drawFleet(cabinets) {
  const placed = cabinets.filter((cab) => cab.lat != null);
  if (!placed.length) return;
  if (!fleetMap) {  // the view first: the clusters need a zoom to group by
    fleetMap = baseMap($("map"));
    fleetMap.fitBounds(L.latLngBounds(placed.map((cab) => [cab.lat, cab.lon])), { padding: [40, 40] });
    legend(fleetMap, Object.entries(STATE_COLOURS).map(([state, colour]) => [colour, t["state_" + state]]));
    fleetLayer = stateClusters().addTo(fleetMap);
  }
  fleetLayer.clearLayers();
  fleetLayer.addLayers(placed.map((cab) => {
    const marker = L.circleMarker([cab.lat, cab.lon], { radius: 9, color: "white", weight: 2, fillOpacity: 1,
      fillColor: STATE_COLOURS[cab.state], state: cab.state, className: `cabinet-dot cabinet-${cab.code} state-${cab.state}` });
    const temperature = cab.temperature_c != null ? ` · ${cab.temperature_c.toFixed(1)} °C` : "";
    // The code and temperature always (short: never cut off), the name and state on a click.
    marker.bindTooltip(`${cab.code}${temperature}`, { permanent: true, direction: "right", offset: [10, 0], className: "dot-label" });
    marker.bindPopup(() => {  // a click: the name and state, and the way to the cabinet's page
      const box = document.createElement("div");
      box.append(link(`/ops/cabinets/${cab.code}`, `${cab.code} ${localName(cab.name)}`), ` · ${t["state_" + cab.state]}`);
      return box;
    });
    return marker;
  }));
}

function alarmDetail(a) {
  const p = a.params || {};
  if (a.kind === "offline") return p.last_will ? t.why_last_will : p.silence_s != null ? fmt("why_offline", p) : a.detail;
  if (p.alarm && t["why_" + p.alarm]) return fmt("why_" + p.alarm, p);  // what the gateway said
  if (a.kind === "foreign_session") return t.why_foreign_session;
  if (Object.keys(p).length && t["why_" + a.kind]) return fmt("why_" + a.kind, { ...p, product: p.sku });
  return a.detail;  // raised before alarms carried params
}

const alarmCells = (a) => [t["alarm_" + a.kind] || a.kind, t["alarm_state_" + a.state] || a.state, when(a.opened_at), alarmDetail(a)];
const ALARM_HEADERS = () => [t.kind, t.state, t.opened_at, t.detail];

async function cabinet() {
  const code = document.body.dataset.code;
  const [info, telemetry, stock, alarms, sessions] = await Promise.all([api(`/cabinets/${code}`),
    api(`/cabinets/${code}/telemetry?hours=6`), api(`/cabinets/${code}/stock`), api(`/alarms?cabinet=${code}&page_size=20`),
    api(`/cabinets/${code}/sessions`)]);
  $("cabinet-title").textContent = `${code} · ${localName(info.name)}`;
  const latest = telemetry.latest || {};
  const doorsOpen = (latest.doors || []).some((d) => d.open);
  const pieces = stock.reduce((n, s) => n + s.count, 0);
  $("cabinet-facts").textContent = [t[info.online ? "online" : "state_offline"],
    info.last_seen ? `${t.last_seen} ${when(info.last_seen)}` : "", doorsOpen ? t.open_doors : t.doors_closed,
    `${t.stock} ${pieces} ${t.pieces}`].filter(Boolean).join(" · ");
  const probes = (latest.temperatures_c || []).filter((v) => v != null).length;
  const ambient = !telemetry.minutes.length && telemetry.latest && !probes;
  $("ambient").hidden = !ambient;
  $("chart").hidden = ambient;
  if (!ambient && changed("chart", telemetry.minutes)) {
    const chilled = stock.some((s) => pageData.chilled.includes(s.sku));
    if (telemetry.minutes.length) temperatureChart($("chart"), telemetry.minutes, chilled ? pageData.max_c : null);
    else { echarts.getInstanceByDom($("chart"))?.dispose(); $("chart").textContent = t.no_data; }
  }
  $("stock").replaceChildren(table([t.lane, t.product, t.count],
    stock.map((s) => row([`${s.channel}-${s.lane}`, lang === "en" ? s.name_en : s.name_zh, s.count]))));
  $("cabinet-alarms").replaceChildren(alarms.length ? table(ALARM_HEADERS(), alarms.map((a) => row(alarmCells(a)))) : t.none);
  if (changed("sessions", sessions)) drawSessions(sessions);
  if (changed("scales", latest.scales || [])) drawScales(latest.scales || []);
}

// Each load cell's health as the gateway measured it while nothing happened (latest figures).
function drawScales(scales) {
  const figure = (v) => (v == null ? t.not_measured : v.toFixed(1));
  $("scale-chart").hidden = !scales.length;
  if (scales.length) scaleChart($("scale-chart"), scales);
  $("scales").replaceChildren(scales.length ? table([t.scale_channel, t.scale_verdict, t.drift_g_per_h, t.creep_g, t.noise_g],
    scales.map((s) => {
      const tr = row([s.channel, t["verdict_" + s.verdict], figure(s.drift_g_per_h), figure(s.creep_g), figure(s.noise_g)]);
      tr.className = "scale-" + s.verdict;
      return tr;
    })) : t.no_data);
}

function basket(lanes, sign = 1) {
  return (lanes || []).filter((l) => l.delta).map((l) => `${productName(l.sku)} × ${sign * l.delta}`).join("、");
}

function charged(items) {  // what the resident paid for (after a review too)
  return (items || []).map((i) => `${lang === "en" ? i.name_en : i.name_zh} × ${i.count}`).join("、");
}

function weights(result) {
  const div = document.createElement("div");
  div.className = "weights";
  if (!result || !(result.baseline || []).length) return div;
  requestAnimationFrame(() => weightChart(div, result));  // ECharts needs the element laid out
  return div;
}

function drawSessions(sessions) {
  $("sessions").replaceChildren(sessions.length ? table([t.time, t.kind, t.state, t.amount, t.items, t.weights],
    sessions.map((s) => row([when(s.created_at), t["mode_" + s.mode] || s.mode, t["status_" + s.status] || s.status,
      s.amount_fen != null ? yuan(s.amount_fen) : "", s.mode === "restock" ? basket((s.result || {}).lanes) : charged(s.items),
      weights(s.result)]))) : t.none);
}

const filters = () => Object.fromEntries(new FormData($("alarm-filter")));
let alarmPage = +(new URLSearchParams(location.search).get("page") || 1);

async function alarmList() {
  const query = new URLSearchParams(Object.entries(filters()).filter(([, v]) => v));
  query.set("page", alarmPage); query.set("page_size", 50);
  history.replaceState(null, "", `?${query}${lang ? "&lang=" + lang : ""}`);
  const { data: alarms, total } = await api(`/alarms?${query}`, { withTotal: true });
  const pages = Math.max(1, Math.ceil(total / 50));
  $("page-of").textContent = fmt("page_of", { page: alarmPage, pages, total });
  $("previous").disabled = alarmPage <= 1; $("next").disabled = alarmPage >= pages;
  $("alarm-table").replaceChildren(table([t.cabinet, ...ALARM_HEADERS(), t.action], alarms.map((a) => {
    const button = document.createElement("button");
    button.textContent = t.ack; button.className = "ack"; button.disabled = a.state !== "open";
    button.onclick = async () => { await api(`/alarms/${a.id}/ack`, { method: "POST" }); refresh(); };
    return row([link(`/ops/cabinets/${a.cabinet_code}`, a.cabinet_code), ...alarmCells(a), button]);
  })));
}

async function alarmFilters() {
  const select = $("alarm-filter").elements.cabinet;
  for (const cab of await api("/cabinets")) select.add(new Option(`${cab.code} ${localName(cab.name)}`, cab.code));
  const query = new URLSearchParams(location.search);
  for (const element of $("alarm-filter").elements) element.value = query.get(element.name) || "";
  $("alarm-filter").onchange = () => { alarmPage = 1; refresh(); };
  $("previous").onclick = () => { alarmPage -= 1; refresh(); };
  $("next").onclick = () => { alarmPage += 1; refresh(); };
}

async function reviewQueue() {
  const sessions = await api("/reviews");
  $("no-reviews").hidden = sessions.length > 0;
  if (!changed("reviews", sessions)) return;
  $("review-table").replaceChildren(...(sessions.length ? [table([t.cabinet, t.time, t.weights, t.action], sessions.map((s) => {
    const actions = document.createElement("div");
    actions.className = "actions";
    s.offers.forEach((o) => {  // the chargeable candidates, priced, most likely first
      const b = document.createElement("button");
      const items = `${charged(o.items) || t.none} · ${yuan(o.amount_fen)}`;
      b.textContent = `${t.charge}: ${fmt("candidate", { items, percent: (o.probability * 100).toFixed(0) })}`;
      b.onclick = async () => { await api(`/sessions/${s.session_id}/review`, { method: "POST", body: JSON.stringify({ candidate: o.index }) }); refresh(); };
      actions.appendChild(b);
    });
    const dismiss = document.createElement("button");
    dismiss.textContent = t.refund;
    dismiss.onclick = async () => { await api(`/sessions/${s.session_id}/review`, { method: "POST", body: JSON.stringify({ dismiss: true }) }); refresh(); };
    actions.appendChild(dismiss);
    return row([s.cabinet_code, when(s.created_at), weights(s.result), actions]);
  }))] : []));
}

// A resident's dispute: the receipt, their words, the weights before and after; refund (some or all) or not.
async function disputeQueue() {
  const disputes = await api("/disputes");
  $("no-disputes").hidden = disputes.length > 0;
  if (!changed("disputes", disputes)) return;
  $("dispute-table").replaceChildren(...(disputes.length ? [table(
    [t.cabinet, t.time, t.resident, t.items, t.reason, t.weights, t.action],
    disputes.map((d) => {
      const s = d.session;
      const form = document.createElement("form");
      form.className = "actions";
      form.innerHTML = `<label>${t.refund_fen} <input name="refund" type="number" min="0" step="0.01"></label>
        <label>${t.decision_note} <input name="note" required maxlength="1000"></label>
        <button name="refund-button" value="refund">${t.decide_refund}</button>
        <button name="reject-button" value="reject">${t.decide_reject}</button>`;
      form.elements.refund.max = s.amount_fen / 100;
      form.elements.refund.value = s.amount_fen / 100;
      form.onsubmit = async (event) => {
        event.preventDefault();
        const refund = event.submitter.value === "refund" ? Math.round(+form.elements.refund.value * 100) : 0;
        const body = JSON.stringify({ refund_fen: refund, note: form.elements.note.value });
        try { await api(`/disputes/${d.id}/decision`, { method: "POST", body }); refresh(); } catch (error) { showError(error); }
      };
      return row([s.cabinet_code, when(d.opened_at), d.resident, `${charged(s.items)} · ${yuan(s.amount_fen)}`, d.reason, weights(s.result), form]);
    }))] : []));
}

// Cold-chain incidents: the excursion's curve, the lanes withheld, the visits that took exposed goods
// (with one action refunding them all).
async function coldChain() {
  const incidents = await api("/cold-chain/incidents");
  $("no-incidents").hidden = incidents.length > 0;
  if (!changed("cold_chain", incidents)) return;
  $("incidents").replaceChildren(...incidents.map((i) => {
    const box = document.createElement("article");
    box.className = "incident";
    const title = document.createElement("h2");
    title.append(link(`/ops/cabinets/${i.cabinet}`, i.cabinet), ` · ${localName(i.cabinet_name)} · ${when(i.started_at)} · `,
      i.closed_at ? t.incident_closed : t.incident_open);
    const chart = document.createElement("div"); chart.className = "chart";
    const lanes = table([t.lane, t.product, t.exposure_min, t.exposed_pieces, t.state], i.lanes.map((l) => row([
      `${l.channel}-${l.lane}`, productName(l.sku), Math.round(l.exposed_s / 60), l.pieces,
      l.released_at ? when(l.released_at) : l.withheld_at ? t.incident_open : ""])), "grid");
    const visits = table([t.time, t.resident, t.items, t.refund_fen], i.sessions.map((s) => row([
      s.at ? when(s.at) : "", s.resident, s.items.map((x) => `${productName(x.sku)} × ${x.count}`).join(", "),
      s.refunded_fen == null ? yuan(s.amount_fen) : `${t.refunded} ${yuan(s.refunded_fen)}`])), "grid");
    const refund = document.createElement("button");
    refund.textContent = t.refund_all;
    refund.hidden = i.refunded_at != null || !i.sessions.length;
    refund.onclick = async () => {
      try { await api(`/cold-chain/incidents/${i.id}/refund`, { method: "POST" }); refresh(); } catch (error) { showError(error); }
    };
    const heading = (key) => { const h = document.createElement("h3"); h.textContent = t[key]; return h; };
    box.append(title, heading("temperature_curve"), chart, heading("exposed_lanes"), lanes, heading("affected_sessions"), visits, refund);
    requestAnimationFrame(() => excursionChart(chart, i.curve, i.lanes));
    return box;
  }));
}

const VIEWS = { fleet, cabinet, alarms: alarmList, reviews: reviewQueue, disputes: disputeQueue, cold_chain: coldChain };

async function refresh() {
  try { await VIEWS[view](); showError(); } catch (error) { showError(error); }
}

document.querySelectorAll("table.sortable th").forEach((th) => th.onclick = () => { sortKey = th.dataset.key; refresh(); });

$("login").onclick = async () => { if (await signIn()) start(); };

async function start() {
  const me = await api("/auth/me").catch(() => null);
  if (!me || !["ops", "admin"].includes(me.role)) { $("staff-signin").hidden = false; return; }  // staff sign in again
  $("staff-signin").hidden = true;
  $(view).hidden = false;
  if (view === "alarms") await alarmFilters().catch(showError);
  await refresh();
  setInterval(refresh, 3000);  // live without reloading
}

start();
