#!/usr/bin/env node
// In-memory OCPP 1.6J / 2.0.1 central system on ocpp-rpc: a baseline peer for the pgcsms
// benchmark.
//
// Usage: node server.js [--host 127.0.0.1] [--port 0] [--interval 300]
// Prints one line "LISTENING <host>:<port>" on stdout once it accepts connections.
// Answers BootNotification (Accepted), Heartbeat, StatusNotification and MeterValues from
// memory, with strictMode on (every request and response validated against the OCPP 1.6
// JSON schemas), and keeps nothing but a per-charger counter: no database.  A charger that
// asks for the subprotocol ocpp2.0.1 is answered in 2.0.1 (ocpp-rpc's built-in 2.0.1
// schemas): BootNotification, Heartbeat, StatusNotification and TransactionEvent.
'use strict';

const { createServer } = require('http');
const { RPCServer } = require('ocpp-rpc');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = option('host', '127.0.0.1');
const port = Number(option('port', '0'));
const interval = Number(option('interval', '300'));

const chargers = new Map(); // identity -> {booted, messages, status}

const server = new RPCServer({
  protocols: ['ocpp1.6', 'ocpp2.0.1'],
  strictMode: true,
});

// What both versions say alike: BootNotification and Heartbeat.
function handleCommon(client, state) {
  client.handle('BootNotification', () => {
    state.booted = true;
    state.messages += 1;
    return { status: 'Accepted', interval, currentTime: new Date().toISOString() };
  });
  client.handle('Heartbeat', () => {
    state.messages += 1;
    return { currentTime: new Date().toISOString() };
  });
}

function handle201(client, state) {
  client.handle('StatusNotification', ({ params }) => {
    state.messages += 1;
    state.status = params.connectorStatus;
    return {};
  });
  client.handle('TransactionEvent', ({ params }) => {
    state.messages += 1;
    state.seqNo = params.seqNo;
    return params.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
  });
}

server.on('client', (client) => {
  const state = { booted: false, messages: 0, status: null };
  chargers.set(client.identity, state);
  client.on('close', () => chargers.delete(client.identity));
  handleCommon(client, state);
  if (client.protocol === 'ocpp2.0.1') {
    handle201(client, state);
    return;
  }

  client.handle('StatusNotification', ({ params }) => {
    state.messages += 1;
    state.status = params.status;
    return {};
  });
  client.handle('MeterValues', () => {
    state.messages += 1;
    return {};
  });
});

server.on('error', (err) => process.stderr.write(`node peer: ${err}\n`));

async function main() {
  // Our own HTTP server instead of server.listen(), only to raise the listen backlog
  // (511 by default) for the connection storm; upgrades go to ocpp-rpc unchanged.
  const httpServer = createServer({ noDelay: true }, (req, res) => {
    res.statusCode = 404;
    res.end();
  });
  httpServer.on('upgrade', server.handleUpgrade);
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen({ port, host, backlog: 4096 }, resolve);
  });
  const addr = httpServer.address();
  process.stdout.write(`LISTENING ${addr.address}:${addr.port}\n`);
}

function shutdown() {
  // A benchmark peer holds nothing worth a graceful close.
  process.exit(0);
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((err) => {
  process.stderr.write(`node peer: ${err.stack || err}\n`);
  process.exit(1);
});
