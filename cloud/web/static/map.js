// Leaflet maps (vendored): the configured base tiles, or a plain grid offline; markers by state, clustered.
const STATE_COLOURS = { ok: "#1e9e5a", alarm: "#d68910", offline: "#c0392b" };
const WORST = ["ok", "alarm", "offline"];

function baseMap(element) {
  const map = L.map(element, { maxZoom: 19, zoomSnap: 0.5, zoomControl: false, attributionControl: Boolean(pageData.tiles) });
  L.control.zoom({ zoomInTitle: texts.zoom_in, zoomOutTitle: texts.zoom_out }).addTo(map);
  if (pageData.tiles) {
    const tiles = L.tileLayer(pageData.tiles, { maxZoom: 19, attribution: "© OpenStreetMap" }).addTo(map);
    let failed = 0;  // offline or blocked: fall back to the grid and say so
    tiles.on("tileerror", () => { if (++failed === 4) offline(element, map); });
  } else offline(element, map);
  return map;
}

function offline(element, map) {
  element.classList.add("no-tiles");
  const note = L.control({ position: "bottomleft" });
  note.onAdd = () => Object.assign(L.DomUtil.create("div", "legend"), { textContent: texts.base_map_offline });
  note.addTo(map);
}

function legend(map, entries) {  // [[colour, label], …]
  const control = L.control({ position: "topright" });
  control.onAdd = () => {
    const box = L.DomUtil.create("div", "legend map-legend");
    for (const [colour, label] of entries) {
      const line = document.createElement("div");
      const dot = document.createElement("i"); dot.style.background = colour;
      line.append(dot, label); box.appendChild(line);
    }
    return box;
  };
  control.addTo(map);
}

// A cluster takes the colour of its worst cabinet, so one offline cabinet shows at any zoom.
function stateClusters() {
  return L.markerClusterGroup({
    maxClusterRadius: 40, chunkedLoading: true, showCoverageOnHover: false,
    iconCreateFunction: (cluster) => {
      const worst = cluster.getAllChildMarkers().reduce((w, m) => Math.max(w, WORST.indexOf(m.options.state)), 0);
      const colour = STATE_COLOURS[WORST[worst]];
      return L.divIcon({ html: `<div style="background:${colour}">${cluster.getChildCount()}</div>`,
        className: `cabinet-cluster state-${WORST[worst]}`, iconSize: [36, 36] });
    },
  });
}
