'use strict';
// The example service the local platform deploys. Plain Node, no dependencies.
// Contract with the platform: read PORT (0 = any free port), VERSION, SERVICE and ENVIRONMENT; print one JSON line
// {"listening":<port>} on stdout once ready; exit when stdin closes (so a killed platform leaves no orphans) or on SIGTERM.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const releases = JSON.parse(fs.readFileSync(path.join(__dirname, 'releases.json'), 'utf8'));
const version = process.env.VERSION ?? '';
const service = process.env.SERVICE ?? 'hello';
const environment = process.env.ENVIRONMENT ?? 'local';
const port = Number(process.env.PORT ?? '0');

const release = releases[version];
if (!release) {
  process.stderr.write(`hello: unknown VERSION "${version}": known versions are ${Object.keys(releases).join(', ')}\n`);
  process.exit(1);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`hello: PORT must be a port number, got "${process.env.PORT}"\n`);
  process.exit(1);
}

const [minLatency, maxLatency] = release.latencyMs;
// A release that fails in bursts: errorRate applies only in the first onMs of every periodMs (by the wall clock),
// and no request fails in between, so some samples look clean and others do not.
const burst = release.burst ?? null;

function errorRateNow() {
  if (!burst) return release.errorRate;
  return Date.now() % burst.periodMs < burst.onMs ? release.errorRate : 0;
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

let served = 0;

// A release that costs more to serve: after each request it burns `extraCpu` times the CPU an average request has
// taken so far (everything the process did since it began listening, but this burning, per request served), so it
// uses that much more CPU per request than the same code without it, on any machine.
const extraCpu = release.extraCpu ?? 0;
let cpuOrigin = null;
let burnedUs = 0;

const cpuUs = (since) => {
  const used = process.cpuUsage(since ?? undefined);
  return used.user + used.system;
};

function burnExtraCpu() {
  if (!extraCpu || !cpuOrigin) return;
  const start = process.cpuUsage();
  const target = ((cpuUs(cpuOrigin) - burnedUs) / served) * extraCpu;
  let x = 0;
  while (cpuUs(start) < target) for (let i = 0; i < 2_000; i += 1) x += Math.sqrt(i);
  burnedUs += cpuUs(start) + (x < 0 ? 1 : 0);
}

function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true, version });
  if (url.pathname !== '/') return sendJson(res, 404, { error: `no route ${url.pathname}` });

  // Faults are spread evenly over the requests rather than drawn at random, so that every small window of a faulty
  // release shows its faults (a random draw leaves some windows clean, and a demo or a test would flap).
  served += 1;
  const errorRate = errorRateNow();
  const failed = Math.floor(served * errorRate) > Math.floor((served - 1) * errorRate);
  const slow = Math.floor((served + 3) * release.slowRate) > Math.floor((served + 2) * release.slowRate);
  const delay = slow ? release.slowMs : minLatency + Math.random() * (maxLatency - minLatency);
  setTimeout(() => {
    if (failed) return sendJson(res, 500, { error: 'internal error', service, version });
    sendJson(res, 200, { service, version, environment, message: release.message });
    burnExtraCpu();
  }, delay);
}

const server = http.createServer(handle);
server.keepAliveTimeout = 5000;

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  // Finish the requests in flight, then exit; the platform sends SIGKILL if this takes too long.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// Watch stdin only when it is a pipe from a supervisor; run by hand (a terminal or /dev/null) it must not exit at once.
const stdin = fs.fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

server.listen(port, '127.0.0.1', () => {
  cpuOrigin = process.cpuUsage();
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: address.port })}\n`);
});
