/**
 * Payload encryption on the real stack: the worker and the CLI share a codec key file; a deploy runs through staging,
 * a signed approval and the canary; then the raw history, read as anyone with access to the namespace reads it (the
 * Temporal CLI without a codec), is scanned for the deploy's inputs, in clear and in base64. The codec server the
 * Temporal UI calls decodes the same payloads, for the UI's origin only (and, in a second instance, for the holder of
 * its bearer token only); a real browser on the UI sees the inputs decoded.
 * Run: npm run build && node --import tsx --test test/integration/codec.test.ts
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import type { DeployStatus } from '../../src/shared/deploy';
import { writeCodecKey } from '../../src/temporal/codec-keys';
import { resolveTemporalCli } from '../../src/tooling/temporal-bin';
import { freePort } from '../../src/tooling/ports';
import { REPO, Stack, STACK_REQUESTER, waitFor } from '../helpers/stack';

// Unique text in every input a person types: none of it may reach the history in clear.
const marker = `mk${randomBytes(5).toString('hex')}`;
const reason = `release notes ${marker}-reason`;
// The requester signs the start with a key the stack made for it, so it is the stack's requester, not a marker.
const requestedBy = STACK_REQUESTER;
const comment = `approved ${marker}-comment`;

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
// As in the UI test: outside CI a missing browser skips the UI case and says how to get it.
const browserSkip =
  !existsSync(CHROMIUM) && process.env['CI'] !== 'true'
    ? `needs Chromium at ${CHROMIUM}: apt-get install chromium`
    : false;

let stack: Stack;
let keysDir: string;
let keysFile: string;
/** The codec server the UI is pointed at (origin-checked, no token: the UI cannot send one of ours). */
let forUi: CodecProcess;
/** One that requires the bearer token, as for the Temporal CLI's --codec-auth. */
let guarded: CodecProcess;
let UI: string;
const TOKEN = randomBytes(24).toString('base64url');

interface CodecProcess {
  child: ChildProcess;
  url: string;
}

/** Runs `opsflow codec-server --port <port> ...` with the stack's key file; resolves once it says where it listens. */
async function startCodecServerProcess(port: number, args: string[]): Promise<CodecProcess> {
  const child = spawn(
    process.execPath,
    [path.join(REPO, 'bin/opsflow.js'), 'codec-server', '--port', String(port), ...args],
    {
      cwd: keysDir,
      env: { ...process.env, OPSFLOW_CODEC_KEY: '', OPSFLOW_CODEC_KEY_ID: '', OPSFLOW_CODEC_KEYS_FILE: keysFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let said = '';
  child.stdout?.on('data', (d: Buffer) => (said += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (said += d.toString()));
  const listening = /codec server on (http:\/\/127\.0\.0\.1:\d+)/;
  await waitFor(
    async () => listening.test(said),
    20_000,
    () => said,
  );
  return { child, url: listening.exec(said)![1]! };
}

async function stopProcess(proc: CodecProcess | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill('SIGTERM');
  await exited;
}

before(async () => {
  keysDir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-codec-keys-'));
  keysFile = path.join(keysDir, 'codec-keys');
  writeCodecKey(keysFile, { id: 'e2e-1' });
  writeFileSync(path.join(keysDir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  // The codec servers run the compiled CLI, and the UI must know its codec server when it starts.
  await promisify(execFile)(process.execPath, [path.join(REPO, 'scripts/build.js')], { cwd: REPO });
  const uiPort = await freePort();
  UI = `http://localhost:${uiPort}`;
  forUi = await startCodecServerProcess(await freePort(), ['--origin', UI, '--origin', `http://127.0.0.1:${uiPort}`]);
  guarded = await startCodecServerProcess(0, ['--origin', UI, '--token-file', path.join(keysDir, 'token')]);
  stack = await Stack.start({
    ui: true,
    uiPort,
    uiCodecEndpoint: forUi.url,
    env: { OPSFLOW_CODEC_KEYS_FILE: keysFile },
    // A service name no other part of the stack uses, so every place it shows is this deploy's.
    configure: (config) => ({ ...config, services: { [`svc-${marker}`]: config.services.hello } }),
  });
});

after(async () => {
  await stopProcess(forUi);
  await stopProcess(guarded);
  await stack?.stop();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
});

/** A payload as protobuf JSON: metadata values and data in base64. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** Where a needle occurs in a JSON value: in a string as is, or inside a string that is base64 of it. */
function occurrences(value: unknown, needle: string, at = '$'): string[] {
  if (typeof value === 'string') {
    const found = value.includes(needle) ? [at] : [];
    if (/^[A-Za-z0-9+/_-]{8,}={0,2}$/.test(value) && Buffer.from(value, 'base64').toString('latin1').includes(needle)) {
      found.push(`${at} (base64)`);
    }
    return found;
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => occurrences(v, needle, `${at}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(k.includes(needle) ? [`${at}.${k} (key)`] : []),
      ...occurrences(v, needle, `${at}.${k}`),
    ]);
  }
  return [];
}

/** Every payload in a history, with its JSON path. */
function payloads(value: unknown, at = '$'): { at: string; payload: JsonPayload }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => payloads(v, `${at}[${i}]`));
  if (!value || typeof value !== 'object') return [];
  const record = value as Record<string, unknown>;
  if (record['metadata'] && typeof record['metadata'] === 'object' && 'encoding' in record['metadata']) {
    return [{ at, payload: record as JsonPayload }];
  }
  return Object.entries(record).flatMap(([k, v]) => payloads(v, `${at}.${k}`));
}

const encodingOf = (p: JsonPayload) => Buffer.from(p.metadata?.['encoding'] ?? '', 'base64').toString();

async function status(id: string): Promise<DeployStatus> {
  const { code, stdout, stderr } = await stack.cli('deploy', 'status', id, '--json');
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as DeployStatus;
}

function decode(server: CodecProcess, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body: JSON.stringify(body),
  });
}

describe('payload encryption on the real stack', () => {
  const service = `svc-${marker}`;
  let workflowId: string;
  let runId: string;
  let histories: { id: string; json: unknown }[];

  it('runs a deploy end to end with the codec on: start, signed approval, canary, status, verify', async () => {
    const started = await stack.cli(
      'deploy',
      'start',
      '--service',
      service,
      '--version',
      '1.1.0',
      '--reason',
      reason,
      '--requested-by',
      requestedBy,
      '--json',
    );
    assert.equal(started.code, 0, started.stderr);
    ({ workflowId, runId } = JSON.parse(started.stdout) as { workflowId: string; runId: string });
    await waitFor(async () => (await status(workflowId)).phase === 'AWAITING_APPROVAL', 90_000);
    const approved = await stack.cli('deploy', 'approve', workflowId, '--by', 'alice', '--comment', comment);
    assert.equal(approved.code, 0, approved.stderr);
    const watched = await stack.cli('deploy', 'watch', workflowId);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.match(watched.stdout, /PROMOTED/);
    const final = await status(workflowId);
    assert.equal(final.requestedBy, requestedBy);
    assert.deepEqual(
      final.approvals.map((a) => [a.by, a.comment]),
      [['alice', comment]],
    );
    // deploy verify reads raw events: it decodes them with the CLI's codec first.
    const verified = await stack.cli('deploy', 'verify', workflowId);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /every decision verifies/);
  });

  it('leaves none of the inputs in clear in any raw history of the namespace', async () => {
    // Every workflow of the stack's own dev server: the deploy and the ops agent that started it.
    const { stdout } = await promisify(execFile)(resolveTemporalCli(), [
      'workflow',
      'list',
      '--address',
      stack.server.address,
      '--output',
      'json',
    ]);
    const ids = [
      ...new Set((JSON.parse(stdout) as { execution: { workflowId: string } }[]).map((w) => w.execution.workflowId)),
    ];
    assert.ok(ids.includes(workflowId) && ids.length >= 2, ids.join(', '));
    histories = await Promise.all(ids.map(async (id) => ({ id, json: JSON.parse(await stack.historyJson(id)) })));
    for (const { id, json } of histories) {
      // Each person-typed input by its own unique part (the service's name holds the bare marker).
      for (const needle of [`${marker}-reason`, `${marker}-comment`]) {
        assert.deepEqual(occurrences(json, needle), [], `${needle} in clear in ${id}'s history`);
      }
      // The service's name shows only where Temporal needs it in clear: ids and search attributes.
      const named = occurrences(json, service).filter(
        (at) =>
          !/\.(workflowId|searchAttributes\.indexedFields\.OpsflowService\.data|identity) ?(\(base64\))?$/.test(at),
      );
      assert.deepEqual(named, [], `the service name in ${id}'s history outside ids and search attributes`);
      // Every payload but the search attributes' is encrypted, with the key the worker and CLI were given.
      // Besides search attributes, the SDK's patch markers: they hold the name of a patch in opsflow's code.
      const clear = payloads(json).filter(
        ({ at, payload }) =>
          !at.includes('.searchAttributes.') &&
          !at.includes('.markerRecordedEventAttributes.details.patch-data.') &&
          encodingOf(payload) !== 'binary/encrypted',
      );
      assert.deepEqual(
        clear.map(({ at, payload }) => `${at}: ${encodingOf(payload)}`),
        [],
        `payloads in clear in ${id}'s history`,
      );
      const keyIds = new Set(
        payloads(json)
          .filter(({ payload }) => encodingOf(payload) === 'binary/encrypted')
          .map(({ payload }) => Buffer.from(payload.metadata?.['encryption-key-id'] ?? '', 'base64').toString()),
      );
      assert.deepEqual([...keyIds], ['e2e-1']);
    }
  });

  it('without the key, the CLI cannot read the deploy, and says which key it needs', async () => {
    const env = { ...stack.env, OPSFLOW_CODEC_KEYS_FILE: '' };
    const child = spawn(process.execPath, [path.join(REPO, 'bin/opsflow.js'), 'deploy', 'status', workflowId], {
      cwd: stack.workdir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1, out);
    assert.equal(
      out,
      'opsflow: the history is encrypted (key "e2e-1") and no codec key is configured: set OPSFLOW_CODEC_KEYS_FILE ' +
        '(or OPSFLOW_CODEC_KEY) as the worker has it\n',
    );
    assert.ok(!out.includes(`${marker}-reason`), out);
  });

  it('the codec server decodes the encrypted payloads: for the UI origin, and for the token holder', async () => {
    const deploy = histories.find((h) => h.id === workflowId)!.json;
    const encrypted = payloads(deploy)
      .filter(({ payload }) => encodingOf(payload) === 'binary/encrypted')
      .map(({ payload }) => payload);
    assert.ok(encrypted.length > 10, `${encrypted.length} encrypted payloads`);
    for (const [server, headers] of [
      [forUi, { origin: UI, 'x-namespace': 'default' }],
      [guarded, { authorization: `Bearer ${TOKEN}` }],
    ] as const) {
      const res = await decode(server, { payloads: encrypted }, headers);
      assert.equal(res.status, 200, await res.clone().text());
      const { payloads: decoded } = (await res.json()) as { payloads: JsonPayload[] };
      assert.equal(decoded.length, encrypted.length);
      const clear = decoded.map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8')).join('\n');
      for (const needle of [reason, requestedBy, comment, service]) assert.ok(clear.includes(needle), needle);
      assert.ok(decoded.every((p) => encodingOf(p) !== 'binary/encrypted'));
    }
  });

  it('the codec server answers the UI origin’s preflight, refuses other origins and a wrong token', async () => {
    const preflight = (origin: string) =>
      fetch(`${forUi.url}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace,authorization',
        },
      });
    const allowed = await preflight(UI);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), UI);
    assert.equal(allowed.headers.get('access-control-allow-headers'), 'content-type, x-namespace, authorization');
    const foreign = await preflight('http://evil.example:8233');
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);

    const deploy = histories.find((h) => h.id === workflowId)!.json;
    const one = payloads(deploy).find(({ payload }) => encodingOf(payload) === 'binary/encrypted')!.payload;
    const fromElsewhere = await decode(forUi, { payloads: [one] }, { origin: 'http://evil.example:8233' });
    assert.equal(fromElsewhere.status, 403);
    for (const authorization of ['Bearer not-the-token', '']) {
      const refused = await decode(guarded, { payloads: [one] }, { authorization });
      assert.equal(refused.status, 401);
      const body = await refused.text();
      assert.ok(!body.includes(marker), body);
    }
  });

  it(
    'the Temporal UI, pointed at the codec server, shows the deploy’s inputs decoded',
    { skip: browserSkip },
    async () => {
      const profile = mkdtempSync(path.join(os.tmpdir(), 'opsflow-chromium-'));
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${UI}/namespaces/default/workflows/${workflowId}/${runId}/history`);
        await page.setViewportSize({ width: 1400, height: 3000 });
        // The input (and the start's summary and details) are decoded by the browser through the codec server.
        await waitFor(
          async () => (await page.locator('body').innerText()).includes(`${marker}-reason`),
          60_000,
          () => 'the UI never showed the decoded reason',
        );
        await page.screenshot({ path: path.join(stack.workdir, 'ui-decoded.png'), fullPage: true });
      } finally {
        await browser.close();
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );
});
