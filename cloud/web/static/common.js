// Shared by every page: the API client, the stored token, small helpers.
"use strict";
const $ = (id) => document.getElementById(id);
const yuan = (fen) => "¥" + (fen / 100).toFixed(2);
const texts = JSON.parse(document.getElementById("texts").textContent);
const auth = {
  get token() { return localStorage.getItem("vf-token"); },
  set token(value) { value ? localStorage.setItem("vf-token", value) : localStorage.removeItem("vf-token"); },
};

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (auth.token) headers.Authorization = "Bearer " + auth.token;
  const response = await fetch("/api/v1" + path, { ...options, headers });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

function showError(error) { $("error").textContent = error ? error.message || String(error) : ""; }

// The session's `phase` (live, waiting, final) comes from the API: no page keeps its own list of states.
function follow(sessionId, onChange, until = (session) => session.phase === "final") {
  const source = new EventSource(`/api/v1/sessions/${sessionId}/stream?token=${encodeURIComponent(auth.token)}`);
  source.addEventListener("session", (message) => {
    const session = JSON.parse(message.data);
    onChange(session);
    if (until(session)) source.close();
  });
}
