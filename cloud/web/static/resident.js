// The resident page: sign in, see the stock, open the door, follow the session live.
const body = document.body;
const cabinet = body.dataset.cabinet;
const lang = body.dataset.lang;
const t = texts;

async function loadStock() {
  const lanes = await api(`/cabinets/${cabinet}/stock`);
  $("lanes").replaceChildren(...lanes.map((lane) => {
    const li = document.createElement("li");
    li.className = lane.count > 0 ? "" : "empty";
    const name = lang === "en" ? lane.name_en : lane.name_zh;
    li.innerHTML = `<span></span><span><span class="price">${yuan(lane.price_fen)}</span> · ${lane.count} ${t.left}</span>`;
    li.firstChild.textContent = name;
    return li;
  }));
}

async function showAccount() {
  if (!auth.token) { $("signin").hidden = false; $("account").hidden = true; $("open").disabled = true; return; }
  try {
    const me = await api("/auth/me");
    $("who").textContent = me.name;
    $("balance").textContent = yuan(me.available_fen);
    $("signin").hidden = true; $("account").hidden = false; $("open").disabled = false;
  } catch (error) { auth.token = null; showAccount(); }
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

function render(session) {
  $("live").hidden = false;
  const order = ["pending", "unlocked", "open", "closed", "settled"];
  const reached = order.indexOf(session.status);
  document.querySelectorAll("#steps li").forEach((li) => {
    li.classList.toggle("done", reached >= order.indexOf(li.dataset.step) || ["review", "settled"].includes(session.status));
  });
  $("status").textContent = t["status_" + session.status] || session.status;
  if (session.status === "settled") {
    $("receipt").hidden = false;
    $("items").replaceChildren(...session.items.map((item) => {
      const li = document.createElement("li");
      li.innerHTML = `<span></span><span>× ${item.count} <span class="price">${yuan(item.count * item.price_fen)}</span></span>`;
      li.firstChild.textContent = lang === "en" ? item.name_en : item.name_zh;
      return li;
    }));
    $("amount").textContent = yuan(session.amount_fen);
    if (!session.items.length) $("status").textContent = t.nothing_taken;
  }
}

function done(session) {
  if (session.phase === "live") return;  // the door is free again once the visit is not live
  $("open").disabled = false; $("open").textContent = t.again; loadStock();
  if (session.phase === "final") showAccount();  // the charge (or the released hold) is booked
}

$("open").onclick = async () => {
  showError(); $("open").disabled = true; $("open").textContent = t.opening; $("receipt").hidden = true;
  try {
    const session = await api(`/cabinets/${cabinet}/sessions`, { method: "POST", body: JSON.stringify({ door: 0 }) });
    follow(session.session_id, (s) => { render(s); done(s); });
  } catch (error) { showError(error); $("open").disabled = false; $("open").textContent = t.open; }
};

loadStock().catch(showError);
showAccount();
