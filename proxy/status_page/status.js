// The status page: the fleet from status.json, then kept current by the
// server-sent events of /events ("snapshot": every charger; "update": the
// chargers that changed and those removed). Everything from the server is
// inserted as text (textContent), never as markup.
"use strict";

(() => {
  const chargers = new Map(); // id -> charger, as reports.live_status() gives it
  const rows = new Map(); // id -> its <tr>
  const tbody = document.querySelector("#chargers tbody");
  const summary = document.getElementById("summary");
  const problem = document.getElementById("problem");
  const updated = document.getElementById("updated");
  const liveText = document.getElementById("live-text");
  // Status -> style; an unknown status is shown as it came, styled "other".
  const STYLE = {
    Available: "available", Preparing: "busy", Charging: "busy", SuspendedEV: "busy", SuspendedEVSE: "busy",
    Finishing: "busy", Occupied: "busy", Reserved: "reserved", Unavailable: "unavailable", Faulted: "faulted",
  };

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function when(iso) {
    const moment = new Date(iso);
    return Number.isNaN(moment.getTime()) ? String(iso) : moment.toLocaleString();
  }

  function ago(iso) {
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (!Number.isFinite(seconds)) return String(iso);
    if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return when(iso);
  }

  function place(item) {
    if (item.connector_id === 0 && item.evse_id === 0) return "charger";
    if (item.evse_id === null || item.evse_id === undefined || item.evse_id === item.connector_id) {
      return `connector ${item.connector_id}`;
    }
    return `EVSE ${item.evse_id} connector ${item.connector_id}`;
  }

  function list(items, describe) {
    if (items.length === 0) return element("span", "none", "muted");
    const ul = element("ul");
    for (const item of items) ul.append(describe(item));
    return ul;
  }

  function connector(item) {
    const li = element("li", `${place(item)}: `);
    li.append(element("span", item.status, `status ${STYLE[item.status] || "other"}`));
    if (item.error_code && item.error_code !== "NoError") li.append(" ", element("span", item.error_code, "error"));
    if (item.since) li.title = `since ${when(item.since)}`;
    return li;
  }

  function session(item) {
    const energy = item.energy_kwh === null || item.energy_kwh === undefined
      ? "energy unknown" : `${Number(item.energy_kwh).toFixed(2)} kWh`;
    return element("li", `${place(item)}: ${energy} since ${when(item.started_at)} (#${item.transaction_id})`);
  }

  function row(charger) {
    const tr = element("tr");
    tr.dataset.chargePoint = charger.id;
    tr.append(element("td", charger.id, "id"));
    tr.append(element("td", charger.site_name || charger.site || "—"));
    tr.append(element("td", charger.connected ? "connected" : "offline", charger.connected ? "online" : "offline"));
    tr.append(element("td", charger.registration_status));
    tr.append(element("td", charger.ocpp_version || "—"));
    const seen = element("td", charger.last_seen_at ? ago(charger.last_seen_at) : "never");
    if (charger.last_seen_at) {
      seen.dataset.seen = charger.last_seen_at;
      seen.title = when(charger.last_seen_at);
    }
    tr.append(seen);
    const connectors = element("td");
    connectors.append(list(charger.connectors, connector));
    tr.append(connectors);
    const sessions = element("td");
    sessions.append(list(charger.sessions, session));
    tr.append(sessions);
    return tr;
  }

  function put(charger) {
    chargers.set(charger.id, charger);
    rows.set(charger.id, row(charger));
  }

  function render(at) {
    const ids = [...chargers.keys()].sort();
    tbody.replaceChildren(...ids.map((id) => rows.get(id)));
    let connected = 0;
    let running = 0;
    for (const charger of chargers.values()) {
      if (charger.connected) connected += 1;
      running += charger.sessions.length;
    }
    const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
    summary.textContent = `${plural(chargers.size, "charger")} · ${connected} connected · `
      + `${plural(running, "running session")}`;
    if (at) {
      updated.textContent = when(at);
      updated.dateTime = at;
    }
  }

  function snapshot(data) {
    chargers.clear();
    rows.clear();
    for (const charger of data.chargers) put(charger);
    render(data.at);
  }

  function update(data) {
    for (const charger of data.chargers) put(charger);
    for (const id of data.removed || []) {
      chargers.delete(id);
      rows.delete(id);
    }
    render(data.at);
  }

  function live(state, text) {
    document.body.dataset.live = state;
    liveText.textContent = text;
  }

  function follow() {
    const source = new EventSource("events");
    // Live once the stream has sent the fleet: from then on, every change comes.
    source.addEventListener("error", () => live("no", "reconnecting…"));
    source.addEventListener("snapshot", (event) => {
      snapshot(JSON.parse(event.data));
      live("yes", "live");
    });
    source.addEventListener("update", (event) => update(JSON.parse(event.data)));
  }

  async function load() {
    try {
      const response = await fetch("status.json", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      snapshot(await response.json());
      problem.hidden = true;
    } catch (error) {
      problem.textContent = `Cannot load the chargers (${error.message}); waiting for live updates.`;
      problem.hidden = false;
    }
    follow();
  }

  setInterval(() => {
    for (const cell of tbody.querySelectorAll("td[data-seen]")) cell.textContent = ago(cell.dataset.seen);
  }, 10000);
  load();
})();
