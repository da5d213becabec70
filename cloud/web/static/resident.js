// The resident page: sign in, see the stock, open the door, follow the session live to its final amount.
const cabinet = document.body.dataset.cabinet;
const t = texts;

async function loadStock() {
  const lanes = await api(`/cabinets/${cabinet}/stock`);
  $("lanes").replaceChildren(...lanes.map((lane) => {
    const li = document.createElement("li");
    li.className = lane.withheld ? "withheld" : lane.count > 0 ? "" : "empty";
    const name = document.createElement("span"); name.textContent = lang === "en" ? lane.name_en : lane.name_zh;
    const right = document.createElement("span");
    const price = document.createElement("span"); price.className = "price"; price.textContent = yuan(lane.price_fen);
    // Withheld by the cold chain: unavailable, and why (the cabinet charges nothing for it).
    right.append(price, lane.withheld ? ` · ${fmt("withheld_cold_chain", lane.withheld)}` : ` · ${lane.count} ${t.left}`);
    li.append(name, right);
    return li;
  }));
}

async function showAccount() {
  if (!auth.token) { $("signin").hidden = false; $("account").hidden = true; $("open").disabled = true; return; }
  try {
    const me = await api("/auth/me");
    $("who").textContent = me.name;
    $("balance").textContent = yuan(me.balance_fen);
    const held = me.balance_fen - me.available_fen;
    $("available").textContent = yuan(me.available_fen);
    $("available-line").hidden = held <= 0;
    $("held").hidden = held <= 0;
    $("held").textContent = fmt("held_now", { held_fen: held });
    $("signin").hidden = true; $("account").hidden = false; $("open").disabled = false;
  } catch (error) { auth.token = null; showAccount(); return; }
  coldChainNotices();
}

// Refunds for exposed goods bought earlier: told once, on this visit.
async function coldChainNotices() {
  const notices = await api("/me/cold-chain-notices", { method: "POST" }).catch(() => []);
  $("cold-chain-notices").replaceChildren(...notices.map((notice) => {
    const li = document.createElement("li");
    const items = notice.items.map((i) => `${lang === "en" ? i.name_en : i.name_zh} × ${i.count}`).join(", ");
    li.textContent = fmt("cold_chain_refund_notice", { items, amount_fen: notice.amount_fen });
    return li;
  }));
}

$("send-code").onclick = async () => {
  showError();
  try {
    const answer = await api("/auth/otp/request", { method: "POST", body: JSON.stringify({ phone: $("phone").value }) });
    $("code-note").textContent = t.code_sent + (answer.dev_code ? ` · ${t.dev_code}: ${answer.dev_code}` : "");
  } catch (error) { showError(error); }
};

$("sign-in").onclick = async () => {
  showError();
  try {
    const answer = await api("/auth/otp/verify", { method: "POST", body: JSON.stringify({ phone: $("phone").value, code: $("code").value }) });
    auth.token = answer.token; showAccount();
  } catch (error) { showError(error); }
};

function receipt(session) {
  $("receipt").hidden = false;
  $("order").textContent = session.session_id;
  $("settled-at").textContent = when(session.settled_at || new Date().toISOString());
  $("items").replaceChildren(...session.items.map((item) => {
    const li = document.createElement("li");
    const name = document.createElement("span"); name.textContent = lang === "en" ? item.name_en : item.name_zh;
    const right = document.createElement("span");
    const price = document.createElement("span"); price.className = "price"; price.textContent = yuan(item.count * item.price_fen);
    right.append(`× ${item.count} `, price);
    li.append(name, right);
    return li;
  }));
  const amount = session.amount_fen || 0;
  $("amount").textContent = yuan(amount);
  $("hold-note").textContent = (reviewed ? t.reviewed + " · " : "") + fmt("hold_released", { hold_fen: session.hold_fen, amount_fen: amount });
}

// The weights were not sure: the resident taps the basket that is true (charged at once), or none.
function offers(session) {
  $("choose").hidden = session.status !== "choose";
  if (session.status !== "choose") return;
  $("offers").replaceChildren(...session.offers.map((offer, index) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    const names = offer.items.map((i) => `${lang === "en" ? i.name_en : i.name_zh} × ${i.count}`).join("、");
    button.textContent = `${names} · ${yuan(offer.amount_fen)}`;
    button.onclick = () => choose(session.session_id, index);
    li.appendChild(button);
    return li;
  }));
  $("none-of-these").onclick = () => choose(session.session_id, null);
}

async function choose(sessionId, offer) {
  showError();
  try {
    await api(`/sessions/${sessionId}/choice`, { method: "POST", body: JSON.stringify({ offer }) });
    $("choose").hidden = true;
  } catch (error) { showError(error); }
}

// A charged receipt may be disputed (48 hours); ops decide from the weight record.
function dispute(session) {
  const state = session.dispute;
  $("dispute").hidden = Boolean(state) || !session.amount_fen;
  $("dispute-state").hidden = !state;
  if (state) {
    const key = state.state === "open" ? "dispute_open" : `dispute_${state.state}`;
    $("dispute-state").textContent = fmt(key, { refund_fen: state.refund_fen, note: state.decision_note });
  }
  $("dispute-send").onclick = async () => {
    showError();
    try {
      const reason = $("dispute-reason").value.trim();
      const answer = await api(`/sessions/${session.session_id}/dispute`, { method: "POST", body: JSON.stringify({ reason }) });
      dispute(answer);
    } catch (error) { showError(error); }
  };
}

function render(session) {
  $("live").hidden = false;
  offers(session);
  const order = ["pending", "unlocked", "open", "closed", "settled"];
  const reached = order.indexOf(session.status);
  const past = session.phase !== "live";
  document.querySelectorAll("#steps li").forEach((li) => li.classList.toggle("done", past || reached >= order.indexOf(li.dataset.step)));
  if (session.status === "review") reviewed = true;
  $("status").textContent = t["status_" + session.status] || session.status;
  if (session.status === "settled" || (session.status === "refunded" && reviewed)) {
    receipt(session);
    dispute(session);
    if (!session.items.length) $("status").textContent = t.nothing_taken;
    window.scrollTo({ top: 0 });
  }
}

function done(session) {
  if (session.phase === "live") return false;  // the door is free again once the visit is not live
  $("open").disabled = false; $("open").textContent = t.again; loadStock();
  if (session.phase !== "final") return false;  // a basket to choose, a review, or the money moving
  showAccount();  // the charge (or the released hold) is booked
  return true;
}

$("open").onclick = async () => {
  showError(); $("open").disabled = true; $("open").textContent = t.opening; $("receipt").hidden = true; reviewed = false;
  try {
    const session = await api(`/cabinets/${cabinet}/sessions`, { method: "POST", body: JSON.stringify({ door: 0 }) });
    showAccount();  // the hold shows at once
    follow(session.session_id, render, done);
    window.scrollTo({ top: 0 });
  } catch (error) { showError(error); $("open").disabled = false; $("open").textContent = t.open; }
};

loadStock().catch(showError);
showAccount();
