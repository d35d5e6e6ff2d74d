import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors';
import { ChannelError } from '../../src/activities/notify/contract';
import {
  createGithubChannel,
  GITHUB_API_VERSION,
  GithubChannel,
  statusDescription,
  statusMarker,
  statusSteps,
} from '../../src/activities/notify/github/channel';
import { githubChannelConfigSchema } from '../../src/activities/notify/github/config';
import { CHANNEL_KINDS } from '../../src/activities/notify/kinds';
import { channelsFromConfig } from '../../src/activities/notify/registry';
import { EVENT_TYPES, type DeployEvent } from '../../src/shared/notify/events';
import { describeIssue } from '../../src/shared/validation';
import { FakeGitHub } from '../helpers/fake-github';
import { DEPLOY_ID, opsEvent, UI_URL } from '../helpers/ops-events';

const TOKEN = 'ghp_fakeTokenForOpsflowTests0123456789';
const ENV = { GITHUB_TOKEN: TOKEN };
const REPOSITORY = 'shop/hello';
const REF = 'v1.2.0';
const NOW = Date.parse('2026-12-07T16:21:00Z');

/** Every message and detail a test saw, checked at the end of each test for the token. */
let said: string[] = [];

function channel(apiUrl: string, extra: Record<string, unknown> = {}, env: Record<string, string> = ENV) {
  return new GithubChannel(
    githubChannelConfigSchema.parse({ kind: 'github', repository: REPOSITORY, apiUrl, ...extra }),
    { env, now: () => NOW },
  );
}

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ChannelError, `expected a ChannelError, got ${String(err)}`);
    said.push(err.message);
    return err;
  }
  assert.fail('the send did not fail');
}

describe('github config', () => {
  it('defaults to api.github.com, the v-prefixed tag, GITHUB_TOKEN and a 10 s limit', () => {
    assert.deepEqual(githubChannelConfigSchema.parse({ kind: 'github', repository: REPOSITORY }), {
      kind: 'github',
      repository: REPOSITORY,
      apiUrl: 'https://api.github.com',
      ref: 'v{{version}}',
      timeout: 10_000,
    });
  });

  it('refuses in one line: a token in the file, two token sources, a ref without the version, a bad repository', () => {
    const refusal = (config: Record<string, unknown>) => {
      const parsed = githubChannelConfigSchema.safeParse({ kind: 'github', repository: REPOSITORY, ...config });
      assert.equal(parsed.success, false);
      return describeIssue(parsed.error!);
    };
    assert.equal(
      refusal({ token: TOKEN }),
      'token: the token does not belong in opsflow.yaml: name a variable of the worker with tokenEnv (default GITHUB_TOKEN) or a file with tokenFile',
    );
    assert.equal(refusal({ tokenEnv: 'GH', tokenFile: '/run/secrets/gh' }), 'give tokenEnv or tokenFile, not both');
    assert.equal(
      refusal({ ref: 'main' }),
      'ref: must contain {{version}}, e.g. v{{version}}: a deployment records which release went out',
    );
    assert.equal(refusal({ ref: 'v{{tag}}{{version}}' }), 'ref: may use only {{version}} and {{service}}');
    assert.equal(
      refusal({ ref: '{{version}} x' }),
      'ref: must be a tag, branch or SHA made of letters, digits, ".", "_", "-" and "/"',
    );
    assert.equal(
      refusal({ repository: 'hello' }),
      'repository: must be owner/name, as in https://github.com/owner/name',
    );
    assert.equal(
      refusal({ apiUrl: 'http://github.example.com/api/v3' }),
      'apiUrl: must use https (plain http only to localhost, 127.0.0.1 or [::1])',
    );
    assert.equal(
      refusal({ environmentUrls: { production: 'javascript:alert(1)' } }),
      'environmentUrls.production: must be an http or https URL',
    );
    assert.throws(
      () => createGithubChannel({ kind: 'github', repository: REPOSITORY, owner: 'x' }, { name: 'gh', env: ENV }),
      (err: unknown) =>
        err instanceof ConfigError && /^notifications\.channels\.gh: Unrecognized key/.test(err.message),
    );
  });
});

describe('github kind', () => {
  it('is registered: the worker builds it from its notifications block, and routes it only what it wants', () => {
    assert.equal(CHANNEL_KINDS.github, createGithubChannel);
    const registry = channelsFromConfig(
      { channels: { deploys: { kind: 'github', repository: REPOSITORY } }, escalation: {} },
      CHANNEL_KINDS,
      ENV,
    );
    assert.deepEqual(
      registry.route(opsEvent('deploy.promoted')).map((r) => [r.name, r.channel.kind]),
      [['deploys', 'github']],
    );
    assert.deepEqual(registry.route(opsEvent('approval.requested')), []);
  });
});

describe('which statuses an event sets', () => {
  it('starts, promotes, fails and closes environments', () => {
    assert.deepEqual(statusSteps(opsEvent('deploy.started')), [
      { environment: 'staging', state: 'in_progress', create: true },
    ]);
    assert.deepEqual(statusSteps(opsEvent('approval.decided')), [
      { environment: 'production', state: 'in_progress', create: true },
    ]);
    assert.deepEqual(statusSteps(opsEvent('approval.decided', { decision: 'rejected', by: 'bob' })), []);
    assert.deepEqual(statusSteps(opsEvent('deploy.promoted')), [
      { environment: 'staging', state: 'success', create: true },
      { environment: 'production', state: 'success', create: true },
    ]);
    assert.deepEqual(statusSteps(opsEvent('deploy.rolled-back')), [
      { environment: 'production', state: 'failure', create: true },
    ]);
    assert.deepEqual(statusSteps(opsEvent('deploy.failed')), [
      { environment: 'production', state: 'failure', create: true },
    ]);
    assert.deepEqual(statusSteps(opsEvent('deploy.failed', { environment: undefined })), []);
    assert.deepEqual(statusSteps(opsEvent('deploy.cancelled')), [
      { environment: 'production', state: 'inactive', create: false },
    ]);
  });

  it('the channel wants only the events that change a deployment', () => {
    const github = channel('http://127.0.0.1:9');
    assert.deepEqual(
      EVENT_TYPES.filter((type) => github.wants(opsEvent(type))),
      [
        'deploy.started',
        'approval.decided',
        'deploy.rolled-back',
        'deploy.promoted',
        'deploy.failed',
        'deploy.cancelled',
      ],
    );
  });

  it('keeps a description within 140 characters, on one line, with the marker last', () => {
    const rollback = opsEvent('deploy.rolled-back', { reason: `line one\nline two\u0007 ${'x'.repeat(300)}` });
    const description = statusDescription(rollback, 'production', 'failure');
    assert.equal(Array.from(description).length, 140);
    assert.ok(description.startsWith('hello 1.2.0 rolled back (critical): line one line two xxx'), description);
    assert.ok(description.endsWith(`… ${statusMarker(rollback)}`), description);
    assert.match(statusMarker(rollback), /^\[opsflow [0-9a-f]{12} 2026-12-07T16:20:00\.000Z\]$/);
  });
});

describe('github channel against the REST API', () => {
  let github: FakeGitHub;
  let apiUrl: string;
  let dir: string;

  beforeEach(async () => {
    said = [];
    github = new FakeGitHub(REPOSITORY, TOKEN);
    apiUrl = await github.start();
    dir = mkdtempSync(path.join(tmpdir(), 'opsflow-github-'));
  });

  afterEach(async () => {
    await github.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const message of said) assert.ok(!message.includes(TOKEN), `the token leaked into: ${message}`);
    for (const request of github.requests) {
      assert.equal(request.authorization, `token ${TOKEN}`);
      assert.equal(request.apiVersion, GITHUB_API_VERSION);
    }
  });

  async function send(gh: GithubChannel, event: DeployEvent) {
    const result = await gh.send(event);
    said.push(result.detail);
    return result;
  }

  it("a deploy's events give one deployment per environment and the statuses in order, with exact payloads", async () => {
    const gh = channel(apiUrl, { environmentUrls: { production: 'https://hello.example.com' } });
    const started = opsEvent('deploy.started');
    const first = await send(gh, started);
    assert.deepEqual(first, {
      ref: `${REPOSITORY}#1`,
      duplicate: false,
      detail: `GitHub ${REPOSITORY}: created the staging deployment 1; set the staging deployment 1 to in_progress`,
    });
    assert.deepEqual(github.deployments[0]!.request, {
      ref: REF,
      environment: 'staging',
      auto_merge: false,
      required_contexts: [],
      payload: { deployId: DEPLOY_ID, version: '1.2.0' },
      description: `opsflow: hello 1.2.0 to staging (${DEPLOY_ID})`,
    });
    assert.deepEqual(github.statuses[0]!.request, {
      state: 'in_progress',
      description: `deploying hello 1.2.0 to staging ${statusMarker(started)}`,
      log_url: UI_URL,
    });
    assert.deepEqual(github.requests[0]!.query, { ref: REF, per_page: '100', page: '1' });

    // Nothing to say on GitHub while production waits for its approval.
    assert.equal(gh.wants(opsEvent('approval.requested')), false);
    assert.deepEqual(await send(gh, opsEvent('approval.requested')), {
      ref: '',
      duplicate: false,
      detail: 'changes no GitHub deployment: nothing sent',
    });

    const approved = opsEvent('approval.decided');
    const second = await send(gh, approved);
    assert.equal(second.ref, `${REPOSITORY}#3 ${REPOSITORY}#1`);
    assert.equal(
      second.detail,
      `GitHub ${REPOSITORY}: created the production deployment 3; set the production deployment 3 to in_progress; set the staging deployment 1 to success`,
    );
    assert.deepEqual(github.statusesOf(3)[0]!.request, {
      state: 'in_progress',
      description: `deploying hello 1.2.0 to production ${statusMarker(approved)}`,
      log_url: UI_URL,
      environment_url: 'https://hello.example.com',
    });
    assert.deepEqual(github.statusesOf(1)[1]!.request, {
      state: 'success',
      description: `hello 1.2.0 runs in staging ${statusMarker(approved)}`,
      log_url: UI_URL,
    });

    const promoted = opsEvent('deploy.promoted');
    const third = await send(gh, promoted);
    assert.equal(
      third.detail,
      `GitHub ${REPOSITORY}: staging deployment 1 was already success; set the production deployment 3 to success`,
    );
    assert.deepEqual(github.statusesOf(3)[1]!.request, {
      state: 'success',
      description: `hello 1.2.0 runs in production ${statusMarker(promoted)}`,
      log_url: UI_URL,
      environment_url: 'https://hello.example.com',
    });

    assert.deepEqual(
      github.deployments.map((d) => [d.id, d.environment, d.ref, d.payload]),
      [
        [1, 'staging', REF, { deployId: DEPLOY_ID, version: '1.2.0' }],
        [3, 'production', REF, { deployId: DEPLOY_ID, version: '1.2.0' }],
      ],
    );
    assert.deepEqual(
      github.statusesOf(1).map((s) => s.state),
      ['in_progress', 'success'],
    );
    assert.deepEqual(
      github.statusesOf(3).map((s) => s.state),
      ['in_progress', 'success'],
    );
    assert.deepEqual(github.writes(), [
      `POST /repos/${REPOSITORY}/deployments`,
      `POST /repos/${REPOSITORY}/deployments/1/statuses`,
      `POST /repos/${REPOSITORY}/deployments`,
      `POST /repos/${REPOSITORY}/deployments/3/statuses`,
      `POST /repos/${REPOSITORY}/deployments/1/statuses`,
      `POST /repos/${REPOSITORY}/deployments/3/statuses`,
    ]);
  });

  it('the same event twice posts no second status and says it was there', async () => {
    const gh = channel(apiUrl);
    const started = opsEvent('deploy.started');
    await send(gh, started);
    const again = await send(gh, started);
    assert.deepEqual(again, {
      ref: `${REPOSITORY}#1`,
      duplicate: true,
      detail: `GitHub ${REPOSITORY}: staging deployment 1 was already in_progress for this event`,
    });
    assert.equal(github.deployments.length, 1);
    assert.equal(github.statuses.length, 1);

    const approved = opsEvent('approval.decided');
    await send(gh, approved);
    const approvedAgain = await send(gh, approved);
    assert.equal(approvedAgain.duplicate, true);
    assert.equal(github.deployments.length, 2);
    assert.equal(github.statuses.length, 3);
  });

  it('a lost answer after the deployment was created leaves one deployment on retry', async () => {
    const gh = channel(apiUrl);
    const started = opsEvent('deploy.started');
    github.answerNext({ lose: true, when: (r) => r.method === 'POST' && r.path.endsWith('/deployments') });
    const err = await failure(gh.send(started));
    assert.equal(err.retryable, true);
    assert.match(
      err.message,
      /^GitHub http:\/\/127\.0\.0\.1:\d+ cannot be reached \(create the staging deployment of v1\.2\.0\): /,
    );
    assert.equal(github.deployments.length, 1);
    assert.equal(github.statuses.length, 0);

    const retried = await send(gh, started);
    assert.equal(retried.detail, `GitHub ${REPOSITORY}: set the staging deployment 1 to in_progress`);
    assert.equal(github.deployments.length, 1);
    assert.deepEqual(
      github.statuses.map((s) => [s.deploymentId, s.state]),
      [[1, 'in_progress']],
    );
  });

  it('a lost answer after the status was posted adds no second status on retry', async () => {
    const gh = channel(apiUrl);
    const started = opsEvent('deploy.started');
    github.answerNext({ lose: true, when: (r) => r.method === 'POST' && r.path.endsWith('/statuses') });
    const err = await failure(gh.send(started));
    assert.equal(err.retryable, true);
    assert.match(err.message, /\(after it created the staging deployment 1\)$/);
    const retried = await send(gh, started);
    assert.equal(retried.duplicate, true);
    assert.equal(github.statuses.length, 1);
  });

  it('a rollback fails production and shows staging promoted', async () => {
    const gh = channel(apiUrl);
    await send(gh, opsEvent('deploy.started'));
    await send(gh, opsEvent('approval.decided'));
    const rollback = opsEvent('deploy.rolled-back');
    const result = await send(gh, rollback);
    assert.equal(result.detail, `GitHub ${REPOSITORY}: set the production deployment 3 to failure`);
    assert.deepEqual(github.statusesOf(3).at(-1)!.request, {
      state: 'failure',
      description: `hello 1.2.0 rolled back (critical): error rate 12 % above the critical 5 % ${statusMarker(rollback)}`,
      log_url: UI_URL,
    });
    assert.deepEqual(
      github.statuses.map((s) => [s.deploymentId, s.state]),
      [
        [1, 'in_progress'],
        [3, 'in_progress'],
        [1, 'success'],
        [3, 'failure'],
      ],
    );
  });

  it('a failure in staging fails staging only', async () => {
    const gh = channel(apiUrl);
    await send(gh, opsEvent('deploy.started'));
    await send(gh, opsEvent('deploy.failed', { environment: 'staging', reason: 'the target did not start 1.2.0' }));
    assert.equal(github.deployments.length, 1);
    assert.deepEqual(
      github.statusesOf(1).map((s) => [s.state, s.description.replace(/ \[opsflow .*\]$/, '')]),
      [
        ['in_progress', 'deploying hello 1.2.0 to staging'],
        ['failure', 'hello 1.2.0 failed: the target did not start 1.2.0'],
      ],
    );
  });

  it('a rejected production approval creates no production deployment; staging shows promoted', async () => {
    const gh = channel(apiUrl);
    await send(gh, opsEvent('deploy.started'));
    assert.equal(gh.wants(opsEvent('approval.decided', { decision: 'rejected', by: 'bob' })), false);
    const cancelled = await send(gh, opsEvent('deploy.cancelled', { reason: 'rejected by bob' }));
    assert.equal(
      cancelled.detail,
      `GitHub ${REPOSITORY}: found no production deployment to mark inactive; set the staging deployment 1 to success`,
    );
    assert.equal(github.deployments.length, 1);
    assert.deepEqual(
      github.statuses.map((s) => s.state),
      ['in_progress', 'success'],
    );
  });

  it('a deploy cancelled in an environment it started marks that deployment inactive', async () => {
    const gh = channel(apiUrl);
    await send(gh, opsEvent('deploy.started'));
    const cancelled = opsEvent('deploy.cancelled', { environment: 'staging', reason: 'no approval within 24h' });
    await send(gh, cancelled);
    assert.deepEqual(github.statusesOf(1).at(-1)!.request, {
      state: 'inactive',
      description: `hello 1.2.0 cancelled: no approval within 24h ${statusMarker(cancelled)}`,
      log_url: UI_URL,
    });
  });

  it('a retried send that arrives after a later event does not set an older state', async () => {
    const gh = channel(apiUrl);
    const started = opsEvent('deploy.started', { time: '2026-12-07T16:20:00.000Z' });
    const promoted = opsEvent('deploy.promoted', { time: '2026-12-07T16:25:00.000Z' });
    await send(gh, promoted);
    const late = await send(gh, started);
    assert.equal(late.duplicate, false);
    assert.equal(late.detail, `GitHub ${REPOSITORY}: staging deployment 1 left success: a later event set it`);
    assert.deepEqual(
      github.statuses.map((s) => s.state),
      ['success', 'success'],
    );
  });

  it('finds the deploy by its payload among other deployments of the ref, also as JSON text', async () => {
    github.addDeployment({ ref: REF, environment: 'staging', payload: { deployId: 'deploy-hello-1.2.0-staging' } });
    const ours = github.addDeployment({
      ref: REF,
      environment: 'staging',
      payload: JSON.stringify({ deployId: DEPLOY_ID, version: '1.2.0' }),
    });
    github.addDeployment({ ref: REF, environment: 'staging', payload: 'not json' });
    await send(channel(apiUrl), opsEvent('deploy.started'));
    assert.equal(github.deployments.length, 3);
    assert.deepEqual(
      github.statuses.map((s) => [s.deploymentId, s.state]),
      [[ours.id, 'in_progress']],
    );
  });

  it('two sends racing to create a deployment both continue with the earliest; the other is marked inactive', async () => {
    let racer: number | undefined;
    github.beforeCreate = () => {
      github.beforeCreate = undefined;
      racer = github.addDeployment({
        ref: REF,
        environment: 'staging',
        payload: { deployId: DEPLOY_ID, version: '1.2.0' },
      }).id;
    };
    const started = opsEvent('deploy.started');
    const result = await send(channel(apiUrl), started);
    assert.equal(racer, 1);
    assert.equal(result.ref, `${REPOSITORY}#1`);
    assert.deepEqual(
      github.statuses.map((s) => [s.deploymentId, s.state, s.description]),
      [
        [2, 'inactive', `created twice: deployment 1 stands for ${DEPLOY_ID}`],
        [1, 'in_progress', `deploying hello 1.2.0 to staging ${statusMarker(started)}`],
      ],
    );
  });

  it('names the ref from the template', async () => {
    github.refs = new Set(['hello/1.2.0']);
    await send(channel(apiUrl, { ref: '{{service}}/{{version}}' }), opsEvent('deploy.started'));
    assert.equal(github.deployments[0]!.ref, 'hello/1.2.0');
  });

  it('a 5xx is retryable', async () => {
    github.answerNext({ status: 502, body: { message: 'Server Error' } });
    const err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, undefined);
    assert.equal(err.message, `GitHub ${apiUrl} failed: HTTP 502: Server Error (list the deployments of v1.2.0)`);
  });

  it('rate limits are retryable after the time GitHub names', async () => {
    github.primaryLimitNext(NOW / 1000 + 90);
    let err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 90_000);
    assert.equal(
      err.message,
      `GitHub ${apiUrl} is rate limiting the token in GITHUB_TOKEN: HTTP 403, retry in 90 s (list the deployments of v1.2.0)`,
    );
    github.primaryLimitNext(NOW / 1000 + 5, 429);
    err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryAfterMs, 5_000);
    github.secondaryLimitNext(30);
    err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 30_000);
    github.secondaryLimitNext();
    err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 60_000);
    assert.equal(github.deployments.length, 0);
  });

  it('a 403 that is no rate limit is not retryable and says what the token needs', async () => {
    github.answerNext({
      status: 403,
      body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' },
    });
    const err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `GitHub ${apiUrl} did not let the token in GITHUB_TOKEN list the deployments of v1.2.0: HTTP 403: Resource not accessible by integration: it needs Deployments write access to ${REPOSITORY} (repo_deployment for a classic token)`,
    );
  });

  it('401, 404 and 422 are not retryable, in one line naming the variable and never the token', async () => {
    let err = await failure(
      channel(apiUrl, {}, { GITHUB_TOKEN: 'ghp_wrongTokenForOpsflowTests987654' }).send(opsEvent('deploy.started')),
    );
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `GitHub ${apiUrl} refused the token in GITHUB_TOKEN: HTTP 401: Bad credentials (list the deployments of v1.2.0): set a valid token there`,
    );
    assert.ok(!err.message.includes('ghp_wrongTokenForOpsflowTests987654'));
    github.requests.length = 0; // the wrong token's request is not what the afterEach checks

    err = await failure(channel(apiUrl, { repository: 'shop/other' }).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `GitHub ${apiUrl} found no repository shop/other that the token in GITHUB_TOKEN can see: HTTP 404 (list the deployments of v1.2.0)`,
    );

    github.refs = new Set(['v1.1.0']);
    err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `GitHub ${apiUrl} refused to create the staging deployment of v1.2.0: HTTP 422: No ref found for: v1.2.0`,
    );
    assert.equal(github.deployments.length, 0);
  });

  it('removes the token from what GitHub echoes', async () => {
    github.answerNext({ status: 422, body: { message: `token ${TOKEN} is not allowed here` } });
    const err = await failure(channel(apiUrl).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, false);
    assert.match(err.message, /HTTP 422: token \[redacted\] is not allowed here$/);
  });

  it("reads the token from the worker's variable or file, and names which is missing", async () => {
    let err = await failure(channel(apiUrl, {}, {}).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, false);
    assert.equal(err.message, "the GitHub token is not set: set GITHUB_TOKEN in the worker's environment");
    err = await failure(channel(apiUrl, { tokenEnv: 'OPSFLOW_GH' }, {}).send(opsEvent('deploy.started')));
    assert.equal(err.message, "the GitHub token is not set: set OPSFLOW_GH in the worker's environment");
    const file = path.join(dir, 'gh-token');
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    await send(channel(apiUrl, { tokenFile: file }, {}), opsEvent('deploy.started'));
    assert.equal(github.deployments.length, 1);
    github.answerNext({ status: 401, body: { message: 'Bad credentials' } });
    err = await failure(channel(apiUrl, { tokenFile: file }, {}).send(opsEvent('deploy.promoted')));
    assert.match(
      err.message,
      new RegExp(`refused the token in the file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: HTTP 401`),
    );
  });

  it('an unreachable host and a silent one are retryable', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    let err = await failure(channel(`http://127.0.0.1:${port}`).send(opsEvent('deploy.started')));
    assert.equal(err.retryable, true);
    assert.equal(
      err.message,
      `GitHub http://127.0.0.1:${port} cannot be reached (list the deployments of v1.2.0): ECONNREFUSED`,
    );

    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      err = await failure(channel(silentUrl, { timeout: '300ms' }).send(opsEvent('deploy.started')));
      assert.equal(err.retryable, true);
      assert.equal(err.message, `GitHub ${silentUrl} did not answer within 300 ms (list the deployments of v1.2.0)`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
