// Restock at a cabinet: sign in, see what to load, open in restock mode, confirm what the scales saw.
const cabinet = document.body.dataset.cabinet;
const t = texts;
let planned = [];
let sessionId = null;
let me = null;

async function signedIn() {
  try { me = await api("/auth/me"); return ["staff", "admin"].includes(me.role); } catch { return false; }
}

const laneName = (lane) => (lane.pull_sku ? `${productName(lane.pull_sku)} → ${productName(lane.sku)}` : productName(lane.sku))
  + (lane.exposed ? ` · ${t.pull_waste}` : "");  // withheld by the cold chain: every piece out, as waste

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
  await recalibrations();
}

// Drifting scales to recalibrate at this visit: empty the shelf, tare, and the readings verify it.
async function recalibrations() {
  const tasks = await api(`/cabinets/${cabinet}/recalibrations`);
  $("recalibrate").hidden = !tasks.length;
  $("recal-rows").replaceChildren(...tasks.map((task) => {
    const div = document.createElement("div");
    div.className = "recal recal-" + task.state;
    const label = fmt("recal_task", { channel: task.channel, drift: task.drift_g_per_h ?? "?" });
    const button = document.createElement("button");
    button.textContent = t.tare;
    button.onclick = async () => {
      showError(); button.disabled = true;
      try { await api(`/recalibrations/${task.id}/tare`, { method: "POST" }); await recalibrations(); }
      catch (error) { showError(error); button.disabled = false; }
    };
    div.append(`${label} · ${t["recal_" + task.state]} `, button);
    return div;
  }));
  if (tasks.some((task) => task.state === "tared")) setTimeout(() => recalibrations().catch(showError), 5000);
}

// Per lane: what the plan said, what the scales saw, and the cloud's verdict on the plan against the
// shelf's weight. A match is pre-filled with the plan; a mismatch (red) or "cannot tell" stays empty
// until the staff member has counted.
function showCheck(session) {
  const plans = Object.fromEntries(planned.map((l) => [`${l.channel}-${l.lane}`, l]));
  $("check").replaceChildren(session.check.length ? table(
    [t.lane, t.product, t.planned, t.detected, t.verdict, t.confirmed],
    session.check.map((lane) => {
      const key = `${lane.channel}-${lane.lane}`;
      const plan = plans[key];
      const input = document.createElement("input");
      input.type = "number"; input.className = "count"; input.required = true;
      input.dataset.channel = lane.channel; input.dataset.lane = lane.lane; input.dataset.pulled = lane.pulled || 0;
      input.value = lane.verdict === "match" ? lane.planned : "";
      const name = plan && plan.pull_sku ? `${productName(plan.pull_sku)} −${lane.pulled} → ${productName(lane.sku)}` : productName(lane.sku);
      const tr = row([key, name, lane.planned, lane.detected ?? "", t["verdict_" + lane.verdict], input]);
      tr.className = "verdict-" + lane.verdict;
      return tr;
    }), "lanes") : t.nothing_here);
  $("check-reason").hidden = !session.check.length;
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
  const inputs = [...document.querySelectorAll("input.count")];
  if (inputs.some((i) => i.value === "")) { showError({ message: t.count_first }); return; }
  // `pulled` only for a product change: a lane withheld by the cold chain has all its pieces pulled.
  const lanes = inputs.map((i) => ({ channel: +i.dataset.channel, lane: +i.dataset.lane, delta: +i.value,
    ...(+i.dataset.pulled ? { pulled: +i.dataset.pulled } : {}) }));
  const reason = $("reason").value.trim();
  $("confirm").disabled = true;
  try {
    const body = JSON.stringify({ lanes, reason });
    const answer = await api(`/sessions/${sessionId}/restock/confirm`, { method: "POST", body });
    $("status").textContent = t.restock_done;
    readOnly(answer.settled_at || new Date().toISOString());
  } catch (error) { showError(error); $("confirm").disabled = false; }
};

start().catch(showError);
