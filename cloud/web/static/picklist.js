// The printable pick list: store and date, what to pick, the route on a map, what to load at each stop.
const t = texts;
const store = document.body.dataset.store;
$("today").textContent = new Intl.DateTimeFormat(lang, { dateStyle: "full" }).format(new Date());

function drawRoute(round) {
  const map = baseMap($("map"));
  const stops = round.route.map((code) => [round.points[code].lat, round.points[code].lon]);
  const home = [round.store.lat, round.store.lon];
  L.polyline([home, ...stops, home], { color: "#e8542f", weight: 4, className: "route-line" }).addTo(map);
  L.marker(home, { icon: L.divIcon({ className: "store-marker", html: t.store_marker, iconSize: [44, 26] }) })
    .bindTooltip(lang === "en" ? round.store.name_en : round.store.name_zh).addTo(map);
  round.route.forEach((code, i) => {
    L.marker(stops[i], { icon: L.divIcon({ className: `stop-marker stop-${code}`, html: String(i + 1), iconSize: [24, 24] }) })
      .bindTooltip(`${t.stop} ${i + 1} · ${code}`, { permanent: true, direction: "right", offset: [12, 0] }).addTo(map);
  });
  legend(map, [["#1e9e5a", t.store_marker], ["#1d2330", t.stop], ["#e8542f", t.route]]);
  map.fitBounds(L.latLngBounds([home, ...stops]), { padding: [40, 40] });
}

function stopSection(cabinet, i, route) {
  if (route.includes(cabinet.code)) i = route.indexOf(cabinet.code);
  const section = document.createElement("section");
  const title = document.createElement("h2");
  title.textContent = `${t.stop} ${i + 1} · ${cabinet.code}`;
  const lanes = cabinet.lanes.filter((l) => l.load || l.pull);
  const product = (l) => (l.pull_sku ? `${productName(l.pull_sku)} → ${productName(l.sku)}` : productName(l.sku))
    + (l.exposed ? ` · ${t.pull_waste}` : "");  // withheld by the cold chain: pulled as waste
  section.append(title);
  if (lanes.length) section.append(table([t.lane, t.product, t.now, t.load, t.pull],
    lanes.map((l) => row([`${l.channel}-${l.lane}`, product(l), l.count, l.load || "", l.pull || ""])), "lanes"));
  if (cabinet.recalibrate.length) {  // a drifting scale to tare at this stop (the staff page walks it through)
    const task = document.createElement("p");
    task.className = "recalibrate-task";
    task.textContent = `${t.recalibrate}: ${cabinet.recalibrate.map((c) => `${t.scale_channel} ${c}`).join(", ")}`;
    section.append(task);
  }
  return section;
}

async function start() {
  const me = await api("/auth/me").catch(() => null);
  if (!me || me.role === "resident") { $("staff-signin").hidden = false; return; }
  $("staff-signin").hidden = true;
  const round = await api(`/stores/${store}/picklist`);
  $("csv").href = `/api/v1/stores/${store}/picklist.csv`;
  $("csv").onclick = async (event) => {
    event.preventDefault();
    const response = await fetch($("csv").href, { headers: { Authorization: "Bearer " + auth.token } });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob()); link.download = `picklist-${store}.csv`; link.click();
  };
  const visits = round.cabinets.filter((c) => c.recalibrate.length || c.lanes.some((l) => l.load || l.pull));
  if (!visits.length) { $("stops").textContent = t.nothing; return; }
  $("picking").replaceChildren(table([t.product, t.load, t.short],
    round.picking.map((p) => row([productName(p.sku), p.count, p.short || ""])), "lanes"));
  $("picking-box").hidden = false;
  $("distance").textContent = `${t.distance} ${round.distance_km} ${t.km}`;
  $("route-box").hidden = false;
  drawRoute(round);
  $("stops").replaceChildren(...visits.map((c, i) => stopSection(c, i, round.route)));
}

$("login").onclick = async () => { if (await signIn()) start().catch(showError); };

start().catch(showError);
