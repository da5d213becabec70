// Restock at a cabinet: sign in, see what to load, open in restock mode, confirm what the scales saw.
const body = document.body;
const cabinet = body.dataset.cabinet;
const lang = body.dataset.lang;
const t = texts;
let planned = [];
let names = {};
let sessionId = null;

async function signedIn() {
  try { const me = await api("/auth/me"); return ["staff", "admin"].includes(me.role); } catch { return false; }
}

async function start() {
  if (!(await signedIn())) { $("staff-signin").hidden = false; return; }
  $("staff-signin").hidden = true;
  for (const lane of await api(`/cabinets/${cabinet}/stock`)) names[lane.sku] = lang === "en" ? lane.name_en : lane.name_zh;
  const round = await api(`/stores/${body.dataset.store}/picklist`);
  planned = (round.cabinets.find((c) => c.code === cabinet) || { lanes: [] }).lanes;
  $("plan-rows").replaceChildren(...planned.map((lane) => row([`${lane.channel}-${lane.lane}`,
    lane.pull_sku ? `${names[lane.pull_sku] || lane.pull_sku} → ${names[lane.sku] || lane.sku}` : names[lane.sku] || lane.sku,
    lane.count, lane.load ? "+" + lane.load : "", lane.pull ? "−" + lane.pull : ""])));
  $("plan").hidden = false;
  $("open").disabled = false;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
    tr.appendChild(td);
  }
  return tr;
}

function showCheck(session) {
  const detected = Object.fromEntries(session.detected.map((l) => [`${l.channel}-${l.lane}`, l.delta]));
  $("check-rows").replaceChildren(...planned.filter((l) => l.load || l.pull || detected[`${l.channel}-${l.lane}`])
    .map((lane) => {
      const key = `${lane.channel}-${lane.lane}`;
      const input = document.createElement("input");
      input.type = "number"; input.dataset.channel = lane.channel; input.dataset.lane = lane.lane;
      input.value = detected[key] || 0; input.className = "count";
      if (lane.pull_sku) {  // the lane changes product: how many old pieces came out, how many new went in
        input.value = lane.load; input.dataset.pulled = lane.pull;
        return row([key, `${names[lane.pull_sku] || lane.pull_sku} −${lane.pull} → ${lane.sku} +${lane.load}`, lane.load, detected[key] || 0, input]);
      }
      return row([key, names[lane.sku] || lane.sku, lane.load - lane.pull, detected[key] || 0, input]);
    }));
  $("check").hidden = false; $("confirm").hidden = false;
}

$("login").onclick = async () => {
  showError();
  try {
    const answer = await api("/auth/login", { method: "POST", body: JSON.stringify({ username: $("username").value, password: $("password").value }) });
    auth.token = answer.token; start();
  } catch (error) { showError(error); }
};

$("open").onclick = async () => {
  showError(); $("open").disabled = true;
  try {
    const session = await api(`/cabinets/${cabinet}/sessions`, { method: "POST", body: JSON.stringify({ door: 0, mode: "restock" }) });
    sessionId = session.session_id; $("live").hidden = false;
    follow(sessionId, (s) => {
      $("status").textContent = t["status_" + s.status] || s.status;
      if (s.status === "confirm") showCheck(s);
    }, (s) => s.phase !== "live");
  } catch (error) { showError(error); $("open").disabled = false; }
};

$("confirm").onclick = async () => {
  showError();
  const lanes = [...document.querySelectorAll("input.count")].map((i) => ({
    channel: +i.dataset.channel, lane: +i.dataset.lane, delta: +i.value, pulled: +(i.dataset.pulled || 0) }));
  try {
    await api(`/sessions/${sessionId}/restock/confirm`, { method: "POST", body: JSON.stringify({ lanes }) });
    $("status").textContent = t.restock_done; $("confirm").hidden = true;
  } catch (error) { showError(error); }
};

start().catch(showError);
