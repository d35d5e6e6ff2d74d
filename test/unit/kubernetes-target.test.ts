/**
 * The kubernetes target without a cluster: its config refused in one line per mistake, the API server's refusals
 * translated into one line a person can act on (and into final or retryable errors), the version read back from an
 * image through the template, `kubectl rollout status` as data, the pods' waiting reasons, and the HTTPRoute
 * arithmetic, and PromQL templates in Kubernetes terms ({{namespace}}, {{workload}}).
 * test/integration/kubernetes-target.test.ts runs the target on a real control plane.
 * Run: node --import tsx --test test/unit/kubernetes-target.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { MetricsQueryError } from '../../src/activities/metrics/contract';
import { renderQuery } from '../../src/activities/metrics/prometheus';
import { InvalidTargetRequest } from '../../src/activities/targets/contract';
import {
  KubeClient,
  KubeConflict,
  KubeUnreachable,
  translateApiError,
  type HttpRoute,
  type KubeOperation,
} from '../../src/activities/targets/kubernetes/client';
import { kubernetesTargetConfigSchema } from '../../src/activities/targets/kubernetes/config';
import { imageFor, imageProblem, labelValue, versionOf } from '../../src/activities/targets/kubernetes/labels';
import { podProblems, rolloutState } from '../../src/activities/targets/kubernetes/rollout';
import { KubernetesTarget } from '../../src/activities/targets/kubernetes/target';
import { routeWeight, weighRules, type KubeEnvironment } from '../../src/activities/targets/kubernetes/traffic';
import { targetsFromConfig } from '../../src/activities/targets/registry';
import { configSchema, DEFAULT_PROMETHEUS_QUERIES } from '../../src/config/schema';
import { describeIssue } from '../../src/shared/validation';

const base = {
  kind: 'kubernetes',
  image: 'registry.example/hello:{{version}}',
  environments: { staging: { namespace: 'hello-staging', deployment: 'hello' } },
};

/** The first problem the schema finds, as opsflow prints it. */
function problem(config: unknown): string {
  const parsed = kubernetesTargetConfigSchema.safeParse(config);
  assert.equal(parsed.success, false, 'refused');
  return describeIssue(parsed.error!);
}

describe('kubernetes target config', () => {
  it('takes the short form, fills defaults, and is built by the registry', () => {
    const parsed = kubernetesTargetConfigSchema.parse({
      ...base,
      environments: { staging: { namespace: 'hello-staging', deployment: 'hello', httpRoute: 'hello' } },
    });
    assert.equal(parsed.progressDeadline, 300_000);
    assert.deepEqual(parsed.cluster, { inCluster: false });
    assert.deepEqual(parsed.environments['staging']?.httpRoute, { name: 'hello' });
    const config = configSchema.parse({
      project: 'p',
      services: { hello: { target: base } },
      pipeline: ['staging'],
      environments: { staging: { strategy: 'canary' } },
    });
    assert.equal(targetsFromConfig(config).targetFor('hello').kind, 'kubernetes');
  });

  it('refuses each mistake in one line that names the setting', () => {
    assert.equal(
      problem({ ...base, image: 'registry.example/hello:latest' }),
      'image: image must contain {{version}} once, e.g. registry.example/hello:{{version}}',
    );
    assert.equal(
      problem({ ...base, image: 'registry.example/{{service}}:{{version}}' }),
      'image: unknown placeholder {{service}} in image: use {{version}}',
    );
    assert.match(
      problem({ ...base, environments: { staging: { namespace: 'Hello', deployment: 'hello' } } }),
      /^environments\.staging\.namespace: namespace must be lower-case letters, digits and "-"/,
    );
    assert.match(
      problem({ ...base, environments: { staging: { namespace: 'a', deployment: 'x'.repeat(60) } } }),
      /^environments\.staging\.deployment: deployment must be at most 56 characters \(opsflow adds "-canary"\)$/,
    );
    assert.equal(
      problem({
        ...base,
        environments: {
          staging: {
            namespace: 'a',
            deployment: 'hello',
            httpRoute: 'hello',
            blueGreen: { activeService: 'hello', previewService: 'hello-preview' },
          },
        },
      }),
      'environments.staging.blueGreen: httpRoute and blueGreen are two ways to move traffic: set one of them',
    );
    assert.equal(
      problem({
        ...base,
        environments: {
          staging: { namespace: 'a', deployment: 'b', blueGreen: { activeService: 'hello', previewService: 'hello' } },
        },
      }),
      'environments.staging.blueGreen.previewService: activeService and previewService must be two Services',
    );
    assert.equal(
      problem({ ...base, cluster: { inCluster: true, context: 'prod' } }),
      "cluster: inCluster uses the worker pod's service account: leave kubeconfig and context out",
    );
    assert.equal(problem({ ...base, progressDeadline: '2h' }), 'progressDeadline: must be at most 1h');
    assert.match(problem({ ...base, environments: {} }), /^environments: list at least one environment/);
    assert.match(problem({ ...base, replicas: 3 }), /replicas/);
  });
});

describe('kubernetes target: images and labels', () => {
  const template = 'registry.example:5000/team/hello:{{version}}';

  it('reads the version back from an image made by the template, and nothing from another image', () => {
    assert.equal(imageFor(template, '1.2.0'), 'registry.example:5000/team/hello:1.2.0');
    assert.equal(versionOf(template, 'registry.example:5000/team/hello:1.2.0-rc.1'), '1.2.0-rc.1');
    assert.equal(versionOf(template, 'registry.example:5000/team/other:1.2.0'), undefined);
    assert.equal(versionOf(template, 'registry.example:5000/team/hello:'), undefined);
    assert.equal(versionOf('r/hello-{{version}}:latest', 'r/hello-2.0.0:latest'), '2.0.0');
  });

  it('refuses a version that cannot be an image tag, and sanitises label values', () => {
    assert.equal(imageProblem(template, '1.2.0'), undefined);
    assert.match(imageProblem(template, '1.2.0+build.5') ?? '', /cannot be an image tag/);
    assert.equal(labelValue('1.2.0+build.5'), '1.2.0_build.5');
    assert.equal(labelValue(`-${'a'.repeat(70)}`).length, 62);
  });
});

describe('kubernetes target: the API server’s refusals', () => {
  const server = 'https://10.1.2.3:6443';
  const patchRoute: KubeOperation = {
    verb: 'patch',
    resource: 'httproutes.gateway.networking.k8s.io',
    namespace: 'hello-staging',
    name: 'hello',
  };

  it('forbidden names who lacks which verb on which resource in which namespace, and is final', () => {
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message:
        'httproutes.gateway.networking.k8s.io "hello" is forbidden: User "system:serviceaccount:hello-staging:opsflow" ' +
        'cannot patch resource "httproutes" in API group "gateway.networking.k8s.io" in the namespace "hello-staging"',
      reason: 'Forbidden',
      details: { name: 'hello', group: 'gateway.networking.k8s.io', kind: 'httproutes' },
      code: 403,
    };
    const err = translateApiError(403, JSON.stringify(status), patchRoute, server);
    assert.ok(err instanceof InvalidTargetRequest);
    assert.equal(
      err.message,
      'forbidden: system:serviceaccount:hello-staging:opsflow cannot patch httproutes.gateway.networking.k8s.io in ' +
        'namespace hello-staging (hello): grant "patch" on httproutes.gateway.networking.k8s.io in a Role bound to it ' +
        '(see examples/kubernetes/rbac.yaml)',
    );
    assert.ok(!err.message.includes('\n'));
  });

  it('not found names the object and the setting; a missing API names the resource', () => {
    const status = {
      kind: 'Status',
      message: 'deployments.apps "hello" not found',
      reason: 'NotFound',
      details: { name: 'hello', group: 'apps', kind: 'deployments' },
      code: 404,
    };
    const op: KubeOperation = {
      verb: 'get',
      resource: 'deployments.apps',
      namespace: 'hello-staging',
      name: 'hello',
      setting: 'target.environments.staging.deployment',
    };
    const err = translateApiError(404, status, op, server);
    assert.ok(err instanceof InvalidTargetRequest);
    assert.equal(
      err.message,
      'deployments.apps hello-staging/hello not found: check target.environments.staging.deployment in opsflow.yaml',
    );
    const noApi = translateApiError(404, '404 page not found', patchRoute, server);
    assert.ok(noApi instanceof InvalidTargetRequest);
    assert.match(noApi.message, /has no httproutes\.gateway\.networking\.k8s\.io in namespace hello-staging/);
  });

  it('a stale write is a KubeConflict; invalid and unauthorised are final; 5xx and 429 are retried', () => {
    const conflict = translateApiError(
      409,
      { reason: 'Conflict', message: 'the object has been modified' },
      patchRoute,
      server,
    );
    assert.ok(conflict instanceof KubeConflict && conflict.reason === 'Conflict');
    const exists = translateApiError(409, { reason: 'AlreadyExists' }, patchRoute, server);
    assert.ok(exists instanceof KubeConflict && exists.reason === 'AlreadyExists');
    assert.ok(
      translateApiError(422, { message: 'spec.rules[0].backendRefs[1].weight: Invalid' }, patchRoute, server) instanceof
        InvalidTargetRequest,
    );
    const unauthorised = translateApiError(401, undefined, patchRoute, server);
    assert.ok(unauthorised instanceof InvalidTargetRequest);
    assert.match(
      unauthorised.message,
      /^the Kubernetes API server at https:\/\/10\.1\.2\.3:6443 refused the credentials/,
    );
    for (const code of [500, 503, 429]) {
      const err = translateApiError(code, { message: 'etcd leader changed' }, patchRoute, server);
      assert.ok(!(err instanceof InvalidTargetRequest) && !(err instanceof KubeConflict), `${code} is retried`);
      assert.match(err.message, new RegExp(`answered ${code} to patch`));
    }
  });

  it('an unreachable API server names the address tried, and is retried', async () => {
    const port = await closedPort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-kube-unit-'));
    try {
      const kubeconfig = path.join(dir, 'config');
      writeFileSync(kubeconfig, kubeconfigYaml(`https://127.0.0.1:${port}`));
      const client = new KubeClient({ kubeconfig, inCluster: false });
      await assert.rejects(client.getDeployment('a', 'b'), (err: unknown) => {
        assert.ok(err instanceof KubeUnreachable, String(err));
        assert.equal(err.message, `cannot reach the Kubernetes API server at https://127.0.0.1:${port}: ECONNREFUSED`);
        return true;
      });
      const missing = new KubeClient({ kubeconfig: path.join(dir, 'nope'), inCluster: false });
      await assert.rejects(missing.getDeployment('a', 'b'), /cannot read the kubeconfig .*nope: no such file/);
      const context = new KubeClient({ kubeconfig, context: 'prod', inCluster: false });
      await assert.rejects(context.getDeployment('a', 'b'), (err: unknown) => {
        assert.ok(err instanceof InvalidTargetRequest);
        assert.match(err.message, /has no context "prod": it has test$/);
        return true;
      });
      const inCluster = new KubeClient({ inCluster: true }, { env: {} });
      await assert.rejects(inCluster.getDeployment('a', 'b'), /the worker does not run in a pod/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an environment the config does not name, before reaching any cluster', async () => {
    const target = new KubernetesTarget(kubernetesTargetConfigSchema.parse(base));
    await assert.rejects(target.status({ service: 'hello', environment: 'production' }), (err: unknown) => {
      assert.ok(err instanceof InvalidTargetRequest);
      assert.equal(err.message, 'hello has no Kubernetes settings for production: target.environments has staging');
      return true;
    });
    const ref = { service: 'hello', environment: 'staging', deployId: 'd' };
    await assert.rejects(target.setWeight({ ...ref, weight: 12.5 }), InvalidTargetRequest);
    await assert.rejects(target.startRelease({ ...ref, version: '1.0.0+b' }), /cannot be an image tag/);
  });

  it('refuses a blue-green environment that cannot switch, and blue-green Services under another strategy', async () => {
    const ref = { service: 'hello', environment: 'staging', deployId: 'd', version: '1.1.0' };
    const byReplicas = new KubernetesTarget(kubernetesTargetConfigSchema.parse(base), {
      strategies: { staging: 'blue-green' },
    });
    await assert.rejects(byReplicas.startRelease(ref), (err: unknown) => {
      assert.ok(err instanceof InvalidTargetRequest);
      assert.equal(
        err.message,
        'staging deploys blue-green: set target.environments.staging.blueGreen { activeService, previewService }, or an httpRoute',
      );
      return true;
    });
    const services = kubernetesTargetConfigSchema.parse({
      ...base,
      environments: {
        staging: {
          namespace: 'a',
          deployment: 'hello',
          blueGreen: { activeService: 'hello', previewService: 'preview' },
        },
      },
    });
    await assert.rejects(
      new KubernetesTarget(services, { strategies: { staging: 'canary' } }).startRelease(ref),
      /^InvalidTargetRequest: target\.environments\.staging\.blueGreen is set but staging deploys canary/,
    );
  });
});

describe('kubernetes target: rollout status as kubectl reads it', () => {
  const deployment = (spec: number, status: Record<string, unknown>, generation = 2): V1Deployment =>
    ({ metadata: { generation }, spec: { replicas: spec }, status }) as unknown as V1Deployment;

  it('waits for the controller, updated, old and available replicas; fails on ProgressDeadlineExceeded', () => {
    assert.equal(rolloutState(deployment(3, { observedGeneration: 1 })).phase, 'progressing');
    assert.deepEqual(rolloutState(deployment(3, { observedGeneration: 2, updatedReplicas: 1, replicas: 3 })), {
      phase: 'progressing',
      reason: '1 of 3 replicas updated',
    });
    assert.deepEqual(
      rolloutState(deployment(3, { observedGeneration: 2, updatedReplicas: 3, replicas: 4, availableReplicas: 3 })),
      { phase: 'progressing', reason: '1 old replicas pending termination' },
    );
    assert.deepEqual(
      rolloutState(deployment(3, { observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 2 })),
      { phase: 'progressing', reason: '2 of 3 replicas available' },
    );
    assert.deepEqual(
      rolloutState(deployment(3, { observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 3 })),
      { phase: 'done', replicas: 3 },
    );
    const stuck = rolloutState(
      deployment(3, {
        observedGeneration: 2,
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "hello-5d" has timed out progressing.',
          },
        ],
      }),
    );
    assert.equal(stuck.phase, 'failed');
    assert.match(
      (stuck as { reason: string }).reason,
      /exceeded its progress deadline \(ReplicaSet "hello-5d" has timed out/,
    );
  });

  it("names the pods' waiting reasons, grouped", () => {
    const pod = (name: string, reason: string, message: string): V1Pod =>
      ({
        metadata: { name },
        status: {
          conditions: [{ type: 'Ready', status: 'False' }],
          containerStatuses: [{ name: 'hello', ready: false, state: { waiting: { reason, message } } }],
        },
      }) as V1Pod;
    const ready = { metadata: { name: 'ok' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } } as V1Pod;
    assert.deepEqual(
      podProblems([
        pod('hello-a', 'ImagePullBackOff', 'Back-off pulling image "registry.example/hello:9.9.9"'),
        pod('hello-b', 'ImagePullBackOff', 'Back-off pulling image "registry.example/hello:9.9.9"'),
        pod('hello-c', 'CrashLoopBackOff', 'back-off 10s restarting failed container'),
        ready,
      ]),
      [
        '2 pods ImagePullBackOff (hello-a/hello: Back-off pulling image "registry.example/hello:9.9.9")',
        '1 pod CrashLoopBackOff (hello-c/hello: back-off 10s restarting failed container)',
      ],
    );
  });
});

describe('kubernetes target: HTTPRoute weights', () => {
  const env = {
    name: 'staging',
    namespace: 'hello-staging',
    service: 'hello',
    canaryService: 'hello-canary',
    setting: 'target.environments.staging',
  } as KubeEnvironment;
  const route = (refs: object[][]): HttpRoute => ({
    metadata: { name: 'hello', namespace: 'hello-staging' },
    spec: { rules: refs.map((backendRefs) => ({ backendRefs }) as never) },
  });

  it('puts the canary beside stable in every rule that routes to stable, and takes it away again', () => {
    const r = route([
      [{ name: 'hello', port: 80 }],
      [{ name: 'other', port: 80 }],
      [{ name: 'hello', port: 80, weight: 1 }],
    ]);
    assert.equal(routeWeight(env, r), 0);
    const weighed = { ...r, spec: { rules: weighRules(env, r, 25) } };
    assert.deepEqual(weighed.spec.rules?.[0]?.backendRefs, [
      { name: 'hello', port: 80, weight: 75 },
      { name: 'hello-canary', port: 80, weight: 25 },
    ]);
    assert.deepEqual(weighed.spec.rules?.[1]?.backendRefs, [{ name: 'other', port: 80 }]);
    assert.equal(routeWeight(env, weighed), 25);
    const again = { ...r, spec: { rules: weighRules(env, weighed, 50) } };
    assert.equal(again.spec.rules?.[2]?.backendRefs?.length, 2, 'the canary is not added twice');
    assert.equal(routeWeight(env, again), 50);
    const removed = { ...r, spec: { rules: weighRules(env, again, null) } };
    assert.deepEqual(removed.spec.rules?.[0]?.backendRefs, [{ name: 'hello', port: 80, weight: 100 }]);
    assert.equal(routeWeight(env, removed), 0);
  });

  it('refuses a route that does not send traffic to the stable Service', () => {
    assert.throws(
      () => routeWeight(env, route([[{ name: 'other' }]])),
      (err: unknown) =>
        err instanceof InvalidTargetRequest &&
        err.message ===
          'HTTPRoute hello-staging/hello has no backendRef to Service hello-staging/hello: add one, or set target.environments.staging.service',
    );
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function kubeconfigYaml(server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{ name: test, cluster: { server: "' + server + '", insecure-skip-tls-verify: true } }]',
    'users: [{ name: test, user: { token: t } }]',
    'contexts: [{ name: test, context: { cluster: test, user: test } }]',
    'current-context: test',
    '',
  ].join('\n');
}

describe('kubernetes target: PromQL in Kubernetes terms', () => {
  const values = { service: 'hello', version: '1.1.0', environment: 'staging', window: '30s' };

  it('fills {{namespace}} and {{workload}} from the target, and refuses them without one', () => {
    const template =
      'sum(increase(istio_requests_total{destination_workload_namespace="{{namespace}}",destination_workload="{{workload}}"}[{{window}}]))';
    assert.equal(
      renderQuery(template, { ...values, namespace: 'hello-staging', workload: 'hello-canary' }),
      'sum(increase(istio_requests_total{destination_workload_namespace="hello-staging",destination_workload="hello-canary"}[30s]))',
    );
    assert.throws(
      () => renderQuery(template, values),
      (err: unknown) =>
        err instanceof MetricsQueryError &&
        err.message === 'query template uses {{namespace}}, which only a kubernetes target fills in',
    );
    const config = configSchema.parse({
      project: 'p',
      services: { hello: { target: base } },
      metrics: {
        prometheus: { url: 'http://127.0.0.1:9', queries: { ...DEFAULT_PROMETHEUS_QUERIES, requests: template } },
      },
      pipeline: ['staging'],
      environments: { staging: { strategy: 'canary', analysis: { provider: 'prometheus' } } },
    });
    assert.equal(config.metrics.prometheus?.queries.requests, template);
  });
});
