// Shared by every page: the API client, the stored token, texts in the page's language, small helpers.
"use strict";
const $ = (id) => document.getElementById(id);
const yuan = (fen) => "¥" + (fen / 100).toFixed(2);
const texts = JSON.parse(document.getElementById("texts").textContent);
const pageData = JSON.parse(document.getElementById("page-data").textContent);
const lang = document.documentElement.lang;
const auth = {
  get token() { return localStorage.getItem("vf-token"); },
  set token(value) { value ? localStorage.setItem("vf-token", value) : localStorage.removeItem("vf-token"); },
};

// A text with its {blanks} filled: money in yuan, temperatures to a tenth, times in local time.
function fmt(key, params = {}) {
  const text = texts[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    const value = params[name];
    if (value == null) return "";
    if (texts[`${name}_${value}`] != null) return texts[`${name}_${value}`];  // a word: event_door …
    if (name.endsWith("_fen")) return yuan(value);
    if (name.endsWith("_c") && typeof value === "number") return value.toFixed(1);
    if (name === "since" || name === "time") return when(value);
    if (name === "product" || name === "sku") return productName(value);
    return String(value);
  });
}

const productName = (sku) => pageData.products[sku] || sku;
// Bilingual names are "中文 / English" (cloud/web/i18n.py local_name).
function localName(name) { const [zh, en] = (name || "").split(" / "); return lang === "en" ? en || zh : zh; }

function when(iso, withDate = true) {
  const options = withDate ? { dateStyle: "medium", timeStyle: "medium" } : { timeStyle: "medium" };
  return new Intl.DateTimeFormat(lang, { ...options, hour12: false }).format(new Date(iso));
}

// An API refusal in the reader's language: by its code, else the server's sentence.
function refusal(status, data) {
  if (data.code && texts["err_" + data.code] != null) return fmt("err_" + data.code, data.params || {});
  if (status === 422) return texts.err_invalid;
  return texts.err_error;
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (auth.token) headers.Authorization = "Bearer " + auth.token;
  let response;
  try { response = await fetch("/api/v1" + path, { ...options, headers }); } catch { throw new Error(texts.err_network); }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(refusal(response.status, data)), { code: data.code, status: response.status });
  if (options.withTotal) return { data, total: +response.headers.get("X-Total-Count") };
  return data;
}

function showError(error) { $("error").textContent = error ? error.message || String(error) : ""; }

function cells(tag, values) {  // a table row of text or nodes
  const tr = document.createElement("tr");
  for (const value of values) {
    const cell = document.createElement(tag);
    if (value instanceof Node) cell.appendChild(value); else cell.textContent = value ?? "";
    tr.appendChild(cell);
  }
  return tr;
}
const row = (values) => cells("td", values);

// A table with a header, or nothing at all when there are no rows.
function table(headers, rows, className = "grid") {
  const node = document.createElement("table");
  node.className = className;
  const head = document.createElement("thead"); head.appendChild(cells("th", headers));
  const body = document.createElement("tbody"); body.append(...rows);
  node.append(head, body);
  return node;
}

// Follow a session live until `until(session)`, by default its final phase: the phase (live, waiting,
// final) comes from the API, so no page keeps its own list of states.
function follow(sessionId, onChange, until = (session) => session.phase === "final") {
  const source = new EventSource(`/api/v1/sessions/${sessionId}/stream?token=${encodeURIComponent(auth.token)}`);
  source.addEventListener("session", (message) => {
    const session = JSON.parse(message.data);
    onChange(session);
    if (until(session)) source.close();
  });
  return source;
}

async function signIn() {
  showError();
  try {
    const answer = await api("/auth/login", { method: "POST", body: JSON.stringify({ username: $("username").value, password: $("password").value }) });
    auth.token = answer.token;
    return true;
  } catch (error) { showError(error); return false; }
}
