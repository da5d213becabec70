// Charts (vendored ECharts, SVG renderer): a cabinet's temperatures, a session's shelf weights.
const PROBE_COLOURS = ["#2e86c1", "#8e44ad", "#16a085", "#ca6f1e"];

function chartIn(element) {
  return echarts.getInstanceByDom(element) || echarts.init(element, null, { renderer: "svg", locale: lang === "en" ? "EN" : "ZH" });
}

// Consecutive door-open minutes as [start, end] ranges for shading.
function doorRanges(minutes) {
  const starts = [...new Set(minutes.filter((m) => m.door_open).map((m) => Date.parse(m.minute)))].sort((a, b) => a - b);
  const ranges = [];
  for (const start of starts) {
    const last = ranges[ranges.length - 1];
    if (last && start - last[1] <= 60000) last[1] = start + 60000; else ranges.push([start, start + 60000]);
  }
  return ranges;
}

// `maxC`: the chilled limit, drawn as a line; null for a cabinet without chilled goods.
function temperatureChart(element, minutes, maxC) {
  const probes = [...new Set(minutes.map((m) => m.probe))].sort();
  const times = minutes.map((m) => Date.parse(m.minute));
  const [first, last] = [Math.min(...times), Math.max(...times)];
  const series = probes.map((probe, i) => ({
    name: fmt("probe", { probe: probe + 1 }), type: "line", showSymbol: true, symbolSize: 4,
    color: PROBE_COLOURS[i % PROBE_COLOURS.length],
    data: minutes.filter((m) => m.probe === probe).map((m) => [Date.parse(m.minute) + 30000, m.mean]),
  }));
  const marks = {
    name: texts.door_open_area, type: "line", data: [], color: "#f5cba7",
    markLine: { symbol: "none", lineStyle: { color: "#c0392b", type: "dashed" },
      label: { formatter: fmt("limit", { max_c: maxC }), position: "insideEndTop" }, data: maxC == null ? [] : [{ yAxis: maxC }] },
    markArea: { itemStyle: { color: "rgba(245, 176, 65, 0.25)" }, data: doorRanges(minutes).map(([a, b]) => [{ xAxis: a }, { xAxis: b }]) },
  };
  chartIn(element).setOption({
    animation: false,
    legend: { top: 0 },
    tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "" : v.toFixed(1) + " °C") },
    grid: { left: 48, right: 24, top: 36, bottom: 36 },
    // From the first minute on, at least ten minutes wide (a lone point would span days otherwise).
    xAxis: { type: "time", axisLabel: { hideOverlap: true }, min: first, max: Math.max(last + 60000, first + 600000) },
    yAxis: { type: "value", name: "°C", scale: true, max: (v) => Math.max(v.max, maxC ?? v.max) + 1 },
    series: [...series, marks],
  }, true);
}

// A session's per-shelf weights: before the door opened, after it closed, and the change.
function weightChart(element, result) {
  const before = Object.fromEntries((result.baseline || []).map((r) => [r.channel, r.grams]));
  const after = Object.fromEntries((result.final || []).map((r) => [r.channel, r.grams]));
  const channels = [...new Set([...Object.keys(before), ...Object.keys(after)].map(Number))].sort((a, b) => a - b);
  chartIn(element).setOption({
    animation: false,
    legend: { top: 0 },
    tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "" : `${Math.round(v)} ${texts.grams}`) },
    grid: { left: 56, right: 12, top: 30, bottom: 24 },
    xAxis: { type: "category", data: channels.map((c) => fmt("shelf", { channel: c + 1 })) },
    yAxis: { type: "value", name: texts.grams },
    series: [
      { name: texts.before, type: "bar", color: "#aab7c4", data: channels.map((c) => before[c] ?? null) },
      { name: texts.after, type: "bar", color: "#2e86c1", data: channels.map((c) => after[c] ?? null),
        label: { show: true, position: "top", formatter: (p) => {
          const delta = Math.round((after[channels[p.dataIndex]] ?? 0) - (before[channels[p.dataIndex]] ?? 0));
          return delta ? `${delta > 0 ? "+" : ""}${delta}` : "";
        } } },
    ],
  }, true);
}

// Scale health: each load cell's zero drift (g/h) and noise (g) side by side; unmeasured ones empty.
function scaleChart(element, scales) {
  chartIn(element).setOption({
    animation: false,
    legend: { top: 0 },
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 12, top: 30, bottom: 24 },
    xAxis: { type: "category", data: scales.map((s) => `${texts.scale_channel} ${s.channel}`) },
    yAxis: { type: "value" },
    series: [
      { name: texts.drift_g_per_h, type: "bar", color: "#ca6f1e", data: scales.map((s) => s.drift_g_per_h) },
      { name: texts.noise_g, type: "bar", color: "#2e86c1", data: scales.map((s) => s.noise_g) },
    ],
  }, true);
}

// A cold-chain excursion: the warmest probe per minute, the storage limit, the withheld span shaded.
function excursionChart(element, curve, lanes) {
  const limit = Math.min(...lanes.map((l) => l.limit_c));
  const withheld = lanes.filter((l) => l.withheld_at).map((l) => Date.parse(l.withheld_at));
  const released = lanes.map((l) => (l.released_at ? Date.parse(l.released_at) : Date.now()));
  const area = withheld.length ? [[{ xAxis: Math.min(...withheld) }, { xAxis: Math.max(...released) }]] : [];
  const times = curve.map((p) => Date.parse(p.minute));
  const [first, last] = [Math.min(...times, ...withheld), Math.max(...times, ...withheld)];
  chartIn(element).setOption({
    animation: false,
    tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "" : v.toFixed(1) + " °C") },
    grid: { left: 48, right: 24, top: 24, bottom: 36 },
    // At least ten minutes wide, the limit always in view.
    xAxis: { type: "time", axisLabel: { hideOverlap: true }, min: first, max: Math.max(last + 60000, first + 600000) },
    yAxis: { type: "value", name: "°C", min: (v) => Math.floor(Math.min(v.min, limit) - 1),
      max: (v) => Math.ceil(Math.max(v.max, limit) + 1) },
    series: [{
      name: texts.temperature, type: "line", showSymbol: true, symbolSize: 4, color: "#c0392b",
      data: curve.map((p) => [Date.parse(p.minute) + 30000, p.max_c]),
      markLine: { symbol: "none", lineStyle: { color: "#c0392b", type: "dashed" },
        label: { formatter: fmt("limit", { max_c: limit }), position: "insideEndTop" }, data: [{ yAxis: limit }] },
      markArea: { itemStyle: { color: "rgba(192, 57, 43, 0.12)" }, data: area },
    }],
  }, true);
}
