// Restock at a cabinet: sign in, see what to load, open in restock mode, confirm what the scales saw.
const cabinet = document.body.dataset.cabinet;
const t = texts;
let planned = [];
let sessionId = null;
let me = null;

async function signedIn() {
  try { me = await api("/auth/me"); return ["staff", "admin"].includes(me.role); } catch { return false; }
}

const laneName = (lane) => (lane.pull_sku ? `${productName(lane.pull_sku)} → ${productName(lane.sku)}` : productName(lane.sku));

async function start() {
  if (!(await signedIn())) { $("staff-signin").hidden = false; return; }
  $("staff-signin").hidden = true;
  const round = await api(`/stores/${document.body.dataset.store}/picklist`);
  planned = ((round.cabinets.find((c) => c.code === cabinet) || { lanes: [] }).lanes).filter((l) => l.load || l.pull);
  $("plan-rows").replaceChildren(planned.length ? table([t.lane, t.product, t.now, t.load, t.pull],
    planned.map((lane) => row([`${lane.channel}-${lane.lane}`, laneName(lane), lane.count,
      lane.load ? "+" + lane.load : "", lane.pull ? "−" + lane.pull : ""])), "lanes") : t.nothing_here);
  $("plan").hidden = false;
  $("open").disabled = false;
}

function showCheck(session) {
  const detected = Object.fromEntries(session.detected.map((l) => [`${l.channel}-${l.lane}`, l.delta]));
  const lanes = planned.filter((l) => l.load || l.pull || detected[`${l.channel}-${l.lane}`]);
  $("check").replaceChildren(lanes.length ? table([t.lane, t.product, t.planned, t.detected, t.confirmed], lanes.map((lane) => {
    const key = `${lane.channel}-${lane.lane}`;
    const input = document.createElement("input");
    input.type = "number"; input.dataset.channel = lane.channel; input.dataset.lane = lane.lane;
    input.value = detected[key] || 0; input.className = "count";
    if (lane.pull_sku) {  // the lane changes product: how many old pieces came out, how many new went in
      input.value = lane.load; input.dataset.pulled = lane.pull;
      return row([key, `${productName(lane.pull_sku)} −${lane.pull} → ${productName(lane.sku)} +${lane.load}`, lane.load, detected[key] || 0, input]);
    }
    return row([key, productName(lane.sku), lane.load - lane.pull, detected[key] || 0, input]);
  }), "lanes") : t.nothing_here);
  $("confirm").hidden = false;
}

$("login").onclick = async () => { if (await signIn()) start().catch(showError); };

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

// Once confirmed, the counts are the ledger's: the form turns read-only and says who and when.
function readOnly(at) {
  for (const input of document.querySelectorAll("#check input")) input.readOnly = true;
  $("check").classList.add("readonly");
  $("confirm").hidden = true;
  $("confirmed-by").hidden = false;
  $("confirmed-by").textContent = fmt("confirmed_by", { user: me ? me.name : "", time: at });
}

$("confirm").onclick = async () => {
  showError();
  const lanes = [...document.querySelectorAll("input.count")].map((i) => ({
    channel: +i.dataset.channel, lane: +i.dataset.lane, delta: +i.value, pulled: +(i.dataset.pulled || 0) }));
  $("confirm").disabled = true;
  try {
    const answer = await api(`/sessions/${sessionId}/restock/confirm`, { method: "POST", body: JSON.stringify({ lanes }) });
    $("status").textContent = t.restock_done;
    readOnly(answer.settled_at || new Date().toISOString());
  } catch (error) { showError(error); $("confirm").disabled = false; }
};

start().catch(showError);
