/**
 * Who may call the local platform's control API: a bearer token from a 0600 file, a loopback Host, JSON bodies only.
 * A browser's cross-origin "simple" POST and a DNS-rebound name are refused and change nothing.
 * Run: node --import tsx --test test/integration/platform-access.test.ts
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { PlatformError } from '../../src/local-platform/client';
import { LocalPlatformClient } from '../../src/local-platform/client';
import { startLocalPlatform, type RunningPlatform } from '../../src/local-platform/server';
import { configSchema } from '../../src/config/schema';

const HELLO = path.resolve(__dirname, '../../examples/hello/server.js');
const STAGING = '/v1/environments/staging/services/hello';

interface Answer {
  status: number;
  body: string;
}

/** A raw request, so the test sets Host, Origin and Content-Type as a browser or an attacker would. */
function raw(url: string, method: string, route: string, headers: Record<string, string>, body?: string) {
  const { hostname, port } = new URL(url);
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path: route, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('local platform control API access', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  let client: LocalPlatformClient;
  let token: string;
  let host: string;

  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'opsflow-access-'));
    const config = configSchema.parse({
      project: 'access-test',
      platform: { local: { port: 0, trafficRps: 0 } },
      services: {
        hello: {
          target: { kind: 'local', command: ['node', HELLO], versions: ['1.0.0', '1.1.0'], initialVersion: '1.0.0' },
        },
      },
      pipeline: ['staging'],
      environments: { staging: {} },
    });
    platform = await startLocalPlatform({ config, stateDir, logger: pino({ level: 'silent' }) });
    client = new LocalPlatformClient(platform.url, { tokenFile: platform.tokenFile });
    token = readFileSync(platform.tokenFile, 'utf8').trim();
    host = new URL(platform.url).host;
  });

  after(async () => {
    await platform?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const canary = async () => (await client.state()).environments[0]?.canary;

  it('creates its token in a 0600 file in a 0700 folder under the state folder', () => {
    assert.equal(platform.tokenFile, path.join(stateDir, 'token'));
    assert.equal(statSync(platform.tokenFile).mode & 0o777, 0o600);
    assert.ok(token.length >= 32);
  });

  it('answers 401 without the token, or with a wrong one', async () => {
    const none = await raw(platform.url, 'GET', '/v1/state', { host });
    assert.equal(none.status, 401);
    assert.match(none.body, /bearer token/);
    const wrong = await raw(platform.url, 'GET', '/v1/state', { host, authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    const bad = new LocalPlatformClient(platform.url, { token: 'x'.repeat(token.length) });
    await assert.rejects(bad.state(), (err: PlatformError) => err.status === 401 && err.retryable === false);
  });

  it('refuses a cross-origin text/plain POST and changes nothing', async () => {
    const body = JSON.stringify({ deployId: 'evil', version: '1.1.0' });
    const headers = { host, origin: 'http://evil.example', 'content-type': 'text/plain' };
    const simple = await raw(platform.url, 'PUT', `${STAGING}/canary`, headers, body);
    assert.equal(simple.status, 403);
    // Even with the token (a browser cannot add it), text/plain is refused.
    const plain = await raw(
      platform.url,
      'PUT',
      `${STAGING}/canary`,
      { host, 'content-type': 'text/plain', authorization: `Bearer ${token}` },
      body,
    );
    assert.equal(plain.status, 415);
    const noOrigin = await raw(platform.url, 'PUT', `${STAGING}/canary`, { host, 'content-type': 'text/plain' }, body);
    assert.equal(noOrigin.status, 401);
    assert.equal(await canary(), null);
  });

  it('refuses a foreign Host (DNS rebinding), even with the token', async () => {
    const port = new URL(platform.url).port;
    const headers = { host: `rebound.example:${port}`, authorization: `Bearer ${token}` };
    const answer = await raw(platform.url, 'GET', '/v1/state', headers);
    assert.equal(answer.status, 403);
    assert.match(answer.body, /is not this platform/);
    const post = await raw(
      platform.url,
      'POST',
      `${STAGING}/rollback`,
      { ...headers, 'content-type': 'application/json' },
      JSON.stringify({ deployId: 'evil' }),
    );
    assert.equal(post.status, 403);
    assert.equal((await raw(platform.url, 'GET', '/healthz', { host: `rebound.example:${port}` })).status, 403);
  });

  it('answers 404 for an environment or service named like an Object property, without crashing', async () => {
    for (const [environment, service] of [
      ['constructor', 'hello'],
      ['toString', 'hello'],
      ['staging', 'constructor'],
      ['__proto__', 'hello'],
    ]) {
      await assert.rejects(
        client.startCanary({ environment: environment!, service: service!, deployId: 'x', version: '1.1.0' }),
        (err: PlatformError) => err.status === 404,
        `${environment}/${service}`,
      );
    }
    assert.equal((await client.health()).ok, true);
  });

  it('serves /healthz and /metrics to GET without a token; the client with the token does the rest', async () => {
    assert.equal((await raw(platform.url, 'GET', '/healthz', { host })).status, 200);
    assert.equal(
      (await raw(platform.url, 'GET', '/metrics', { host: `localhost:${new URL(platform.url).port}` })).status,
      200,
    );
    await client.startCanary({ environment: 'staging', service: 'hello', deployId: 'ok', version: '1.1.0' });
    assert.equal((await canary())?.version, '1.1.0');
    await client.rollback({ environment: 'staging', service: 'hello', deployId: 'ok' });
  });
});
