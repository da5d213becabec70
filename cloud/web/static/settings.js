// Ops settings page: fleet defaults (read-only), a store's or a cabinet's overrides (edited), what is in force.
"use strict";
const t = texts;
let data = null;  // GET /settings: defaults, stores, cabinets

function target() {
  const [kind, key] = $("target").value.split(":");
  if (kind === "store") return { kind, store: data.stores.find((s) => String(s.store_id) === key) };
  const cabinet = data.cabinets.find((c) => c.code === key);
  return { kind, cabinet, store: data.stores.find((s) => s.store_id === cabinet.store_id) };
}

function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content ?? "";
  return td;
}

function render() {
  const chosen = target();
  const own = (chosen.kind === "store" ? chosen.store : chosen.cabinet).overrides;
  const rows = Object.entries(data.defaults).map(([name, fleet]) => {
    // What this level inherits: a cabinet its store's override, else the fleet default.
    const inherited = chosen.kind === "cabinet" && name in (chosen.store?.overrides ?? {}) ? chosen.store.overrides[name] : fleet;
    const input = document.createElement("input");
    Object.assign(input, { type: "number", step: "any", name, placeholder: inherited, value: own[name] ?? "" });
    input.dataset.setting = name;
    const tr = document.createElement("tr");
    tr.dataset.setting = name;
    const label = document.createElement("span");
    label.textContent = t["set_" + name] || name;
    label.title = name;
    tr.append(cell(label), cell(fleet), cell(inherited), cell(input),
      cell(chosen.kind === "cabinet" ? chosen.cabinet.effective[name] : ""));
    return tr;
  });
  document.querySelector("#settings-table tbody").replaceChildren(...rows);
}

function refusal(error) {
  // The API names each refusal by a stable code; the page says it in its own language.
  const known = error.code && t["err_" + error.code];
  return known ? new Error(known.replace(/\{(\w+)\}/g, (_, k) => error.params?.[k] ?? "")) : error;
}

async function load(keep) {
  data = await api("/settings");
  const options = [
    ...data.stores.map((s) => [`store:${s.store_id}`, `${t.store} ${s.code} · ${lang === "en" ? s.name_en : s.name_zh}`]),
    ...data.cabinets.map((c) => [`cabinet:${c.code}`, `${t.cabinet} ${c.code} · v${c.config_version}`]),
  ];
  $("target").replaceChildren(...options.map(([value, text]) => new Option(text, value)));
  if (keep) $("target").value = keep;
  render();
}

async function save() {
  showError(); $("saved").textContent = "";
  const values = {};
  for (const input of document.querySelectorAll("input[data-setting]")) {
    if (input.value.trim() !== "") values[input.dataset.setting] = Number(input.value);
  }
  const chosen = target(), keep = $("target").value;
  const path = chosen.kind === "store" ? `/stores/${chosen.store.store_id}/settings` : `/cabinets/${chosen.cabinet.code}/settings`;
  try {
    await apiWithCode(path, { method: "PUT", body: JSON.stringify(values) });
    await load(keep);
    $("saved").textContent = t.saved;
  } catch (error) { showError(refusal(error)); }
}

async function apiWithCode(path, options) {
  // As api(), keeping the refusal's code and params for translation.
  const headers = { "Content-Type": "application/json", Authorization: "Bearer " + auth.token };
  const response = await fetch("/api/v1" + path, { ...options, headers });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(answer.detail) ? answer.detail.map((e) => `${e.loc.at(-1)}: ${e.msg}`).join("; ") : answer.detail;
    const error = new Error(detail);
    Object.assign(error, { code: answer.code, params: answer.params });
    throw error;
  }
  return answer;
}

$("target").onchange = () => { $("saved").textContent = ""; render(); };
$("save").onclick = save;
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
  $("settings").hidden = false;
  try { await load(); } catch (error) { showError(error); }
}

start();
