// The supervisor's page: a wallboard row per campaign, the agents with their state and time in
// it (force pause, log out), and the pending callbacks.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const agents = new Map();
  const campaigns = new Map();
  let me = null;

  function agentRow(view) {
    const row = document.createElement("tr");
    row.dataset.agent = view.id;
    ivr.cell(row, view.name ? `${view.name} (${view.id})` : view.id);
    const state = ivr.cell(row, view.reason ? `${view.state} (${view.reason})` : view.state);
    state.className = "state";
    state.dataset.state = view.state;
    ivr.cell(row, "").className = "timer";
    ivr.cell(row, view.page_connected ? "open" : "—");
    const actions = ivr.cell(row, "");
    if (!["logged-out", "on-call"].includes(view.state)) {
      actions.appendChild(ivr.button("Pause", () => act(view.id, "pause", { reason: $("force-reason").value })));
    }
    if (["ready", "paused", "wrap-up"].includes(view.state)) {
      actions.appendChild(ivr.button("Log out", () => act(view.id, "logout")));
    }
    return row;
  }

  function showAgents() {
    $("agents").tBodies[0].replaceChildren(...[...agents.values()].map((entry) => agentRow(entry.view)));
    tick();
  }

  function keepAgent(view) {
    agents.set(view.id, { view, since: Date.now() / 1000 - view.since_seconds });
  }

  function campaignRow(row) {
    const tr = document.createElement("tr");
    tr.dataset.campaign = row.campaign;
    ivr.cell(tr, row.campaign);
    ivr.cell(tr, row.waiting).className = "waiting";
    ivr.cell(tr, "").className = "longest";
    ivr.cell(tr, row.answered).className = "answered";
    ivr.cell(tr, row.abandoned).className = "abandoned";
    ivr.cell(tr, row.service_level === null ? "—" : `${row.service_level}% in ${row.service_level_seconds} s`)
      .className = "service-level";
    return tr;
  }

  function keepCampaign(row) {
    campaigns.set(row.campaign, { row, longestAt: Date.now() / 1000 - row.longest_wait_seconds });
  }

  function showCampaigns() {
    $("wallboard").tBodies[0].replaceChildren(...[...campaigns.values()].map((entry) => campaignRow(entry.row)));
    tick();
  }

  function tick() {
    const now = Date.now() / 1000;
    for (const row of $("agents").tBodies[0].rows) {
      const entry = agents.get(row.dataset.agent);
      if (entry) row.querySelector(".timer").textContent = ivr.duration(now - entry.since);
    }
    for (const tr of $("wallboard").tBodies[0].rows) {
      const entry = campaigns.get(tr.dataset.campaign);
      if (entry) tr.querySelector(".longest").textContent = entry.row.waiting ? ivr.duration(now - entry.longestAt) : "—";
    }
  }

  async function act(agent, action, body) {
    keepAgent(await ivr.api("POST", `/api/agents/${encodeURIComponent(agent)}/${action}`, body));
    showAgents();
  }

  async function callbacks() {
    $("callbacks-panel").hidden = !me.callbacks;
    if (!me.callbacks) return;
    const data = await ivr.api("GET", "/api/callbacks?state=pending");
    $("callbacks").tBodies[0].replaceChildren(...data.callbacks.map((callback) => {
      const row = ivr.callbackRow(callback);
      ivr.cell(row, "").appendChild(ivr.button("Cancel", async () => {
        await ivr.api("POST", `/api/callbacks/${encodeURIComponent(callback.id)}/cancel`, {});
        callbacks();
      }));
      return row;
    }));
  }

  async function refresh() {
    me = await ivr.api("GET", "/api/me");
    ivr.options($("force-reason"), me.pause_reasons);
    const [everyone, board] = await Promise.all([ivr.api("GET", "/api/agents"), ivr.api("GET", "/api/wallboard")]);
    agents.clear();
    everyone.agents.forEach(keepAgent);
    campaigns.clear();
    board.campaigns.forEach(keepCampaign);
    showAgents();
    showCampaigns();
    await callbacks();
  }

  ivr.listen({
    agent: (view) => { keepAgent(view); showAgents(); },
    campaign: (row) => { keepCampaign(row); showCampaigns(); },
  }, () => refresh().catch(() => {}));
  setInterval(tick, 1000);
  setInterval(() => { if (me) callbacks().catch(() => {}); }, 10000);
})();
