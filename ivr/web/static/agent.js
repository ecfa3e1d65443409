// The agent's page: state and its timer, the buttons that change it, the screen pop, open
// pulled calls, callbacks and the calls of the day.
"use strict";

(() => {
  let me = null;
  let agent = null;
  let stateSince = 0;
  const $ = (id) => document.getElementById(id);

  function showAgent(view) {
    agent = view;
    stateSince = Date.now() / 1000 - view.since_seconds;
    $("state").textContent = view.state;
    $("state").dataset.state = view.state;
    $("reason").textContent = view.reason ? `(${view.reason})` : "";
    const out = view.state === "logged-out";
    $("login").hidden = !out;
    $("logout").hidden = out || ["ringing", "on-call"].includes(view.state);
    $("ready").hidden = out || view.state === "ready" || ["ringing", "on-call"].includes(view.state);
    $("pause").hidden = $("pause-reason").hidden = out || view.state === "on-call";
    if (["ready", "logged-out"].includes(view.state)) hidePop();
    tick();
  }

  function tick() {
    if (agent) $("timer").textContent = ivr.duration(Date.now() / 1000 - stateSince);
  }

  function hidePop() {
    $("pop").hidden = true;
  }

  function showPop(offer) {
    $("pop").hidden = false;
    $("pop").dataset.call = offer.call;
    $("pop-caller").textContent = offer.caller_name ? `${offer.caller_name} <${offer.caller}>` : offer.caller;
    $("pop-did").textContent = offer.did;
    $("pop-campaign").textContent = offer.campaign;
    $("pop-customer").textContent = offer.customer_id || "not identified";
    $("own").hidden = !offer.own_customer;
    const rows = Object.entries(offer.variables || {}).map(([name, value]) => {
      const row = document.createElement("tr");
      ivr.cell(row, name);
      ivr.cell(row, typeof value === "string" ? value : JSON.stringify(value));
      return row;
    });
    $("pop-variables").tBodies[0].replaceChildren(...rows);
    $("pop-variables").hidden = rows.length === 0;
    const link = $("pop-crm");
    link.hidden = !offer.crm_link;
    if (offer.crm_link) link.href = offer.crm_link;
    const message = $("pop-message");
    message.hidden = !offer.callback;
    if (offer.callback) message.querySelector("audio").src = `/api/callbacks/${encodeURIComponent(offer.callback)}/message`;
  }

  async function act(action, body) {
    showAgent(await ivr.api("POST", `/api/agents/${encodeURIComponent(me.who)}/${action}`, body));
  }

  async function refresh() {
    me = await ivr.api("GET", "/api/me");
    $("who").textContent = me.agent && me.agent.name ? `${me.agent.name} (${me.who})` : me.who;
    ivr.options($("pause-reason"), me.pause_reasons);
    if (me.agent) showAgent(me.agent);
    if (me.offer) showPop(me.offer); else hidePop();
    await Promise.all([calls(), pulled(), callbacks()]);
  }

  function callRow(call) {
    const row = document.createElement("tr");
    row.dataset.key = `${call.started_at} ${call.caller}`;
    ivr.cell(row, ivr.clock(call.started_at));
    ivr.cell(row, call.caller);
    ivr.cell(row, call.customer_id);
    ivr.cell(row, call.outcome);
    return row;
  }

  async function calls() {
    const data = await ivr.api("GET", `/api/agents/${encodeURIComponent(me.who)}/calls`);
    $("calls").tBodies[0].replaceChildren(...data.calls.map(callRow));
  }

  async function pulled() {
    $("pulled-panel").hidden = me.pull_campaigns.length === 0;
    const rows = [];
    for (const campaign of me.pull_campaigns) {
      const data = await ivr.api("GET", `/api/campaigns/${encodeURIComponent(campaign)}/pulled`);
      for (const call of data.calls) {
        const row = document.createElement("tr");
        ivr.cell(row, campaign);
        ivr.cell(row, [call.name, call.caller, call.location].filter(Boolean).join(" · "));
        ivr.cell(row, ivr.duration(call.waited));
        ivr.cell(row, "").appendChild(ivr.button("Take", async () => {
          await ivr.api("POST", `/api/campaigns/${encodeURIComponent(campaign)}/pulled/${call.code}/take`);
          pulled();
        }));
        rows.push(row);
      }
    }
    $("pulled").tBodies[0].replaceChildren(...rows);
  }

  async function callbacks() {
    $("callbacks-panel").hidden = !me.callbacks || me.campaigns.length === 0;
    if (!me.callbacks) return;
    const data = await ivr.api("GET", "/api/callbacks?state=pending");
    $("callbacks").tBodies[0].replaceChildren(...data.callbacks.map(ivr.callbackRow));
  }

  $("login").addEventListener("click", () => act("login"));
  $("ready").addEventListener("click", () => act("ready"));
  $("logout").addEventListener("click", () => act("logout"));
  $("pause").addEventListener("click", () => act("pause", { reason: $("pause-reason").value }));

  ivr.listen({
    agent: (view) => { if (me && view.id === me.who) showAgent(view); },
    call: (call) => {
      const row = callRow(call);
      const listed = [...$("calls").tBodies[0].rows].some((other) => other.dataset.key === row.dataset.key);
      if (!listed) $("calls").tBodies[0].prepend(row);
    },
    offer: (offer) => showPop(offer),
  }, () => refresh().catch(() => {}));
  setInterval(tick, 1000);
  setInterval(() => { if (me) { pulled().catch(() => {}); callbacks().catch(() => {}); } }, 10000);
})();
