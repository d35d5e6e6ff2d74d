'use strict';
// The command hooks of examples/nginx: the example service (examples/hello) behind Debian's nginx, one nginx per
// environment, run as a plain user process with its own prefix under the state folder, listening on loopback.
//
//   node hooks.js up <environment> <stable-version> <port>   start the stable release and nginx (once, by hand)
//   node hooks.js down <environment>                         stop nginx and every release this script started
//   node hooks.js releases                                   the versions examples/hello holds, as JSON
//   node hooks.js status <environment>                       what runs, as the JSON opsflow's command target reads
//   node hooks.js start <environment> <version> <deployId>   the canary beside stable, at 0 %
//   node hooks.js set-weight <environment> <weight>          nginx upstream weights, then nginx -s reload
//   node hooks.js promote <environment>                      the canary becomes stable at 100 %, the old one stops
//   node hooks.js rollback <environment> <deployId>          the canary stops, or a promotion is undone; recorded
//                                                            with $OPSFLOW_ROLLBACK_ID in status's rollbacks
//
// opsflow calls each operation only when status shows it is needed, with the weight at 0 before a rollback; every
// hook still leaves things as they are when asked twice. State: $NGINX_EXAMPLE_STATE (default .opsflow/nginx).
// Exit codes: 0 done, 75 try again later, anything else a failure whose reason is on stderr.

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const SERVICE = 'hello';
const SERVER = path.join(__dirname, '..', 'hello', 'server.js');
const RELEASES = path.join(__dirname, '..', 'hello', 'releases.json');
const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const STATE = path.resolve(process.env.NGINX_EXAMPLE_STATE || path.join('.opsflow', 'nginx'));
const EX_TEMPFAIL = 75;

class HookError extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}

const dirOf = (environment) => path.join(STATE, environment);
const stateFile = (environment) => path.join(dirOf(environment), 'state.json');

function readState(environment) {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(environment || '')) throw new HookError(`bad environment "${environment}"`);
  if (!fs.existsSync(stateFile(environment))) {
    throw new HookError(`${environment} is not up: run node hooks.js up ${environment} <version> <port>`);
  }
  return JSON.parse(fs.readFileSync(stateFile(environment), 'utf8'));
}

function writeState(environment, state) {
  const file = stateFile(environment);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(check, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new HookError(`${what} did not come up within ${ms} ms`, EX_TEMPFAIL);
}

/** Starts one release of the service in a session of its own, so it outlives this hook. */
async function startRelease(environment, version, deployId) {
  const releases = JSON.parse(fs.readFileSync(RELEASES, 'utf8'));
  if (!releases[version]) throw new HookError(`no release ${version} of ${SERVICE}`);
  const port = await freePort();
  const log = fs.openSync(path.join(dirOf(environment), `${SERVICE}-${version}.log`), 'a');
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH || '', PORT: String(port), VERSION: version, SERVICE, ENVIRONMENT: environment },
    stdio: ['ignore', log, log],
    detached: true,
  });
  child.unref();
  fs.closeSync(log);
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
    10_000,
    `${SERVICE} ${version} on port ${port}`,
  );
  return { version, deployId, port, pid: child.pid };
}

function stopRelease(release) {
  if (release && release.pid && isAlive(release.pid)) process.kill(release.pid, 'SIGTERM');
}

/** The upstream: stable and canary with their weights (a release at 0 % is left out), and which port is which version. */
function upstreamConf(state) {
  const canaryWeight = state.canary ? state.canary.weight : 0;
  const servers = [
    [state.stable, 100 - canaryWeight],
    [state.canary, canaryWeight],
  ].filter(([release, weight]) => release && weight > 0);
  const live = [state.stable, state.canary].filter(Boolean);
  return [
    '# Written by examples/nginx/hooks.js: the split opsflow asked for.',
    'map $upstream_addr $opsflow_version {',
    '  default "unknown";',
    ...live.map((r) => `  "127.0.0.1:${r.port}" "${r.version}";`),
    '}',
    `upstream ${SERVICE} {`,
    ...servers.map(([r, weight]) => `  server 127.0.0.1:${r.port} weight=${weight}; # ${r.version}`),
    '  keepalive 16;',
    '}',
    '',
  ].join('\n');
}

function nginxConf(environment, state) {
  const prefix = path.join(dirOf(environment), 'nginx');
  return `# Written by examples/nginx/hooks.js up: nginx for ${SERVICE} in ${environment}, a user process on loopback.
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 512; }
http {
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  # One JSON line per request: what opsflow's nginx-log metrics provider reads.
  log_format opsflow escape=json '{"time":$msec,"service":"${SERVICE}","environment":"${environment}",'
    '"version":"$opsflow_version","status":$status,"upstreamStatus":"$upstream_status",'
    '"requestTime":$request_time,"upstream":"$upstream_addr"}';
  access_log ${prefix}/access.log opsflow;
  include ${prefix}/upstream.conf;
  server {
    listen 127.0.0.1:${state.port};
    location / {
      proxy_pass http://${SERVICE};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # A failed request is not retried on the other release: the canary's errors must show.
      proxy_next_upstream off;
    }
  }
}
`;
}

/** Writes the upstream and reloads nginx; returns once the new configuration is accepted. */
function applyUpstream(environment, state) {
  const prefix = path.join(dirOf(environment), 'nginx');
  // Written whole or not at all: nginx (and anyone reading it) never sees half a file.
  fs.writeFileSync(path.join(prefix, 'upstream.conf.tmp'), upstreamConf(state));
  fs.renameSync(path.join(prefix, 'upstream.conf.tmp'), path.join(prefix, 'upstream.conf'));
  const args = ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log')];
  try {
    execFileSync(NGINX, [...args, '-t', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync(NGINX, [...args, '-s', 'reload'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new HookError(`nginx refused the new upstream: ${String(err.stderr || err.message).trim()}`);
  }
}

const operations = {
  releases() {
    process.stdout.write(`${JSON.stringify(Object.keys(JSON.parse(fs.readFileSync(RELEASES, 'utf8'))))}\n`);
  },

  async up(environment, version, port) {
    if (!/^\d+$/.test(port || '')) throw new HookError('usage: node hooks.js up <environment> <version> <port>');
    if (fs.existsSync(stateFile(environment))) {
      const state = readState(environment);
      if (isAlive(state.nginxPid)) return console.error(`${environment} is up on port ${state.port}`);
    }
    const prefix = path.join(dirOf(environment), 'nginx');
    fs.mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
    const stable = await startRelease(environment, version, null);
    const state = { port: Number(port), nginxPid: null, stable, canary: null, previous: null };
    fs.writeFileSync(path.join(prefix, 'nginx.conf'), nginxConf(environment, state));
    fs.writeFileSync(path.join(prefix, 'upstream.conf'), upstreamConf(state));
    const log = fs.openSync(path.join(prefix, 'nginx.out'), 'a');
    const nginx = spawn(
      NGINX,
      ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;'],
      { stdio: ['ignore', log, log], detached: true },
    );
    nginx.unref();
    fs.closeSync(log);
    state.nginxPid = nginx.pid;
    writeState(environment, state);
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 10_000, `nginx on port ${port}`);
    console.error(`${environment}: nginx on 127.0.0.1:${port} → ${SERVICE} ${version}`);
  },

  down(environment) {
    if (!fs.existsSync(stateFile(environment))) return;
    const state = readState(environment);
    for (const release of [state.stable, state.canary]) stopRelease(release);
    if (state.nginxPid && isAlive(state.nginxPid)) process.kill(state.nginxPid, 'SIGTERM');
    fs.rmSync(stateFile(environment));
  },

  status(environment) {
    const { stable, canary, rollbacks = [] } = readState(environment);
    const out = {
      stable: stable && { version: stable.version, deployId: stable.deployId },
      canary: canary && {
        version: canary.version,
        weight: canary.weight,
        deployId: canary.deployId,
        changedAt: canary.changedAt,
      },
      // What this script rolled back: a retried rollback whose first attempt did the work reads it here.
      rollbacks,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  },

  async start(environment, version, deployId) {
    const state = readState(environment);
    if (state.canary && state.canary.deployId === deployId && isAlive(state.canary.pid)) return;
    if (state.canary) stopRelease(state.canary);
    state.canary = { ...(await startRelease(environment, version, deployId)), weight: 0, changedAt: Date.now() };
    writeState(environment, state);
    applyUpstream(environment, state);
  },

  ['set-weight'](environment, weight) {
    const state = readState(environment);
    if (!state.canary) throw new HookError(`no canary runs in ${environment}`);
    if (state.canary.weight !== Number(weight)) {
      state.canary.weight = Number(weight);
      state.canary.changedAt = Date.now();
    }
    applyUpstream(environment, state);
    writeState(environment, state);
  },

  promote(environment) {
    const state = readState(environment);
    if (!state.canary) throw new HookError(`no canary runs in ${environment}`);
    const old = state.stable;
    state.previous = { version: old.version, deployId: old.deployId };
    state.stable = { ...state.canary, weight: undefined, changedAt: undefined };
    state.canary = null;
    applyUpstream(environment, state);
    writeState(environment, state);
    stopRelease(old);
  },

  async rollback(environment, deployId) {
    const state = readState(environment);
    // Recorded with the change, in the same write: the last ten rollbacks, newest last, each with the rollback step
    // opsflow names (the same on every retry of it).
    const rollbackId = process.env.OPSFLOW_ROLLBACK_ID || 'unnamed';
    const recorded = (version) =>
      (state.rollbacks = [...(state.rollbacks || []), { deployId, version, rollbackId, at: Date.now() }].slice(-10));
    if (state.canary && state.canary.deployId === deployId) {
      const canary = state.canary;
      state.canary = null;
      recorded(canary.version);
      applyUpstream(environment, state);
      writeState(environment, state);
      stopRelease(canary);
    } else if (state.stable.deployId === deployId && state.previous) {
      const promoted = state.stable;
      state.stable = await startRelease(environment, state.previous.version, state.previous.deployId);
      state.previous = null;
      recorded(promoted.version);
      applyUpstream(environment, state);
      writeState(environment, state);
      stopRelease(promoted);
    }
  },
};

async function main() {
  const [operation, ...args] = process.argv.slice(2);
  const run = operations[operation];
  if (!run) throw new HookError(`unknown operation "${operation}": use ${Object.keys(operations).join(', ')}`);
  await run(...args);
}

main().catch((err) => {
  process.stderr.write(`hooks.js: ${err.message}\n`);
  process.exit(err instanceof HookError ? err.code : 1);
});
