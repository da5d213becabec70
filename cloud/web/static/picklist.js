// The printable pick list: what to pick, the route drawn on a map, what to load at each stop.
const body = document.body;
const lang = body.dataset.lang;
const t = texts;
const store = body.dataset.store;
const SVG = "http://www.w3.org/2000/svg";

function cellRow(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); }
  return tr;
}

function draw(round) {
  const points = [[round.store.lat, round.store.lon], ...round.route.map((c) => [round.points[c].lat, round.points[c].lon])];
  const lats = points.map((p) => p[0]), lons = points.map((p) => p[1]);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const x = (lon) => 40 + ((lon - minLon) / Math.max(maxLon - minLon, 1e-6)) * 720;
  const y = (lat) => 280 - ((lat - minLat) / Math.max(maxLat - minLat, 1e-6)) * 240;
  const map = $("map");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", [...points, points[0]].map(([la, lo]) => `${x(lo)},${y(la)}`).join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#e8542f"); line.setAttribute("stroke-width", "3");
  map.appendChild(line);
  points.forEach(([la, lo], i) => {
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", x(lo)); dot.setAttribute("cy", y(la)); dot.setAttribute("r", i ? 10 : 14);
    dot.setAttribute("fill", i ? "#1d2330" : "#1e9e5a");
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", x(lo) + 14); label.setAttribute("y", y(la) + 5);
    label.textContent = i ? `${i}. ${round.route[i - 1]}` : (lang === "en" ? round.store.name_en : round.store.name_zh);
    map.append(dot, label);
  });
}

async function start() {
  try { await api("/auth/me"); } catch { $("staff-signin").hidden = false; return; }
  $("staff-signin").hidden = true;
  const round = await api(`/stores/${store}/picklist`);
  $("csv").href = `/api/v1/stores/${store}/picklist.csv`;
  $("csv").onclick = async (event) => {
    event.preventDefault();
    const response = await fetch($("csv").href, { headers: { Authorization: "Bearer " + auth.token } });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob()); link.download = `picklist-${store}.csv`; link.click();
  };
  $("picking").replaceChildren(...round.picking.map((p) => cellRow([p.sku, p.count, p.short || ""])));
  $("picking-box").hidden = false;
  $("distance").textContent = `${t.distance} ${round.distance_km} km`;
  $("route-box").hidden = false;
  if (round.route.length) draw(round);
  $("stops").replaceChildren(...round.cabinets.map((cabinet, i) => {
    const section = document.createElement("section");
    const title = document.createElement("h2");
    title.textContent = `${t.stop} ${i + 1} · ${cabinet.code}`;
    const table = document.createElement("table"); table.className = "lanes";
    table.appendChild(cellRow([t.lane, t.product, t.now, t.load, t.pull]));
    cabinet.lanes.filter((l) => l.load || l.pull).forEach((l) =>
      table.appendChild(cellRow([`${l.channel}-${l.lane}`, l.sku, l.count, l.load || "", l.pull || ""])));
    section.append(title, table);
    return section;
  }));
  if (!round.route.length) $("stops").textContent = t.nothing;
}

$("login").onclick = async () => {
  showError();
  try {
    const answer = await api("/auth/login", { method: "POST", body: JSON.stringify({ username: $("username").value, password: $("password").value }) });
    auth.token = answer.token; start();
  } catch (error) { showError(error); }
};

start().catch(showError);
