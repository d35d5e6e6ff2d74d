/**
 * The kubernetes target on a real control plane (test/helpers/kube-cluster.ts: kube-apiserver, controller-manager,
 * scheduler and etcd built from source, the Gateway API CRDs; kwok fakes the node, so pods become Ready without
 * containers running). The target passes the deploy target contract with an HTTPRoute and by replica ratio; then each
 * behaviour is checked on what the cluster holds: the route's weights at every step and the EndpointSlices of each
 * Service (the stable Service never reaches the canary's pods), a promotion that completes, a faulty image named by
 * its pods' waiting reason (a canary that never becomes ready; a promotion whose rollout fails and is undone), a
 * rollback whose weight 0 lands before the canary is deleted (by the cluster's own resourceVersions), blue-green's
 * switch and switch-back by selector, and the one-line errors: forbidden for a service account whose Role (the
 * example's, less `patch` on httproutes) lacks a verb, not found, an unreachable API server.
 *
 * kwok's pod stages are the cluster's own, with two images made faulty (test/helpers/kube-test-tools.ts):
 * FAULTY_EVERYWHERE's pods wait in ImagePullBackOff, FAULTY_AT_SCALE's only outside the canary (CrashLoopBackOff), so
 * its canary passes and its promotion fails.
 * Run: node --import tsx --test test/integration/kubernetes-target.test.ts (after `bash scripts/kube-tools` once)
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { InvalidTargetRequest } from '../../src/activities/targets/contract';
import { KubeUnreachable } from '../../src/activities/targets/kubernetes/client';
import { kubernetesTargetConfigSchema } from '../../src/activities/targets/kubernetes/config';
import { KubernetesTarget, RolloutFailed } from '../../src/activities/targets/kubernetes/target';
import { kubeSkipReason, startKubeCluster, type KubeCluster } from '../helpers/kube-cluster';
import { FAULTY_AT_SCALE, FAULTY_EVERYWHERE, IMAGE, image, toolsWithFaultyImages } from '../helpers/kube-test-tools';
import { REPO } from '../helpers/stack';
import { describeTargetContract } from '../helpers/target-contract';

const service = 'hello';
const environment = 'staging';

interface AppOptions {
  replicas?: number;
  route?: boolean;
  preview?: boolean;
}

interface EnvOptions {
  httpRoute?: boolean;
  blueGreen?: boolean;
  progressDeadline?: string;
  kubeconfig?: string;
}

const skip = kubeSkipReason();

// One cluster for the file's suites: each suite is a test of its own, under the runner's per-test timeout.
let cluster: KubeCluster;
let tools: string;
let namespaces = 0;
const watches: AbortController[] = [];

before(async () => {
  if (skip) return;
  tools = toolsWithFaultyImages();
  // OPSFLOW_KUBE_TEST_DIR keeps the cluster's folder (logs, certificates) after the run, to look into a failure.
  const dir = process.env['OPSFLOW_KUBE_TEST_DIR'];
  cluster = await startKubeCluster({ toolsDir: tools, ...(dir && { dir }) });
});

after(async () => {
  for (const w of watches) w.abort();
  await cluster?.stop();
  if (tools) rmSync(tools, { recursive: true, force: true });
});

const kubectl = (...args: string[]) => cluster.kubectl(args);
const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await kubectl(...args, '-o', 'json')) as T;

/** A namespace of its own with the app as its team deployed it: Deployment, Service, and an HTTPRoute or preview. */
async function app(prefix: string, options: AppOptions = {}): Promise<string> {
  const namespace = `${prefix}-${++namespaces}`;
  await kubectl('create', 'namespace', namespace);
  const docs = parseAllDocuments(readFileSync(path.join(REPO, 'examples/kubernetes/app.yaml'), 'utf8')).map(
    (d) => d.toJSON() as { kind: string; spec: Record<string, unknown> },
  );
  const manifests = docs.filter((d) => d.kind !== 'HTTPRoute' || options.route);
  const deployment = manifests.find((d) => d.kind === 'Deployment')!;
  deployment.spec['replicas'] = options.replicas ?? 2;
  if (options.preview) manifests.push(...yamlDocs(path.join(REPO, 'examples/kubernetes/blue-green.yaml')));
  await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], manifests.map((m) => stringify(m)).join('---\n'));
  await kubectl('rollout', 'status', '-n', namespace, 'deployment/hello', '--timeout=60s');
  return namespace;
}

function target(namespace: string, options: EnvOptions = {}): KubernetesTarget {
  const config = kubernetesTargetConfigSchema.parse({
    kind: 'kubernetes',
    cluster: { kubeconfig: options.kubeconfig ?? cluster.kubeconfigPath },
    image: IMAGE,
    progressDeadline: options.progressDeadline ?? '30s',
    environments: {
      [environment]: {
        namespace,
        deployment: 'hello',
        container: 'hello',
        service: 'hello',
        ...(options.httpRoute && { httpRoute: 'hello' }),
        ...(options.blueGreen && { blueGreen: { activeService: 'hello', previewService: 'hello-preview' } }),
      },
    },
  });
  return new KubernetesTarget(config, {
    pollMs: 100,
    waitMs: 20_000,
    strategies: { [environment]: options.blueGreen ? 'blue-green' : 'canary' },
  });
}

const at = (deployId: string) => ({ service, environment, deployId });
/** A deploy's rollback step: its retries pass the same id. */
const step = (deployId: string) => ({ ...at(deployId), rollbackId: `${deployId}/rollback` });
const release = (deployId: string, version: string) => ({ ...at(deployId), version });
const weight = (deployId: string, w: number) => ({ ...at(deployId), weight: w });

// The workloads go at once (the fake node holds 110 pods, and the cases together make more); the namespace, which
// takes the namespace controller seconds to finalise, is left.
const dropNamespace = async (namespace: string) => {
  await kubectl('delete', 'deployments', '--all', '-n', namespace, '--wait=false');
};

/** The route's backendRefs of its first rule, as `name=weight`. */
async function routeSplit(namespace: string): Promise<string[]> {
  const route = await json<{ spec: { rules: { backendRefs: { name: string; weight?: number }[] }[] } }>(
    'get',
    'httproute',
    'hello',
    '-n',
    namespace,
  );
  return route.spec.rules[0]!.backendRefs.map((r) => `${r.name}=${r.weight ?? 'unset'}`);
}

/** The pod IPs the Service's EndpointSlices hold, once the controller has caught up with `expected`. */
async function endpointsBecome(namespace: string, svc: string, expected: () => Promise<string[]>): Promise<void> {
  const deadline = Date.now() + 15_000;
  let seen: string[] = [];
  let wanted: string[] = [];
  while (Date.now() < deadline) {
    const slices = await json<{ items: { endpoints?: { addresses: string[] }[] }[] }>(
      'get',
      'endpointslices',
      '-n',
      namespace,
      '-l',
      `kubernetes.io/service-name=${svc}`,
    );
    seen = slices.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort();
    wanted = (await expected()).sort();
    if (seen.length > 0 && JSON.stringify(seen) === JSON.stringify(wanted)) return;
    await sleep(200);
  }
  assert.deepEqual(seen, wanted, `Service ${svc}'s endpoints`);
}

/** The IPs of the pods with these labels. */
async function podIps(namespace: string, selector: string): Promise<string[]> {
  const pods = await json<{ items: { status: { podIP?: string }; metadata: { deletionTimestamp?: string } }[] }>(
    'get',
    'pods',
    '-n',
    namespace,
    '-l',
    selector,
  );
  return pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status.podIP).map((p) => p.status.podIP!);
}

async function deployment(namespace: string, name: string) {
  return json<{
    metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
    spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
  }>('get', 'deployment', name, '-n', namespace);
}

async function selector(namespace: string, svc: string): Promise<Record<string, string>> {
  return (await json<{ spec: { selector: Record<string, string> } }>('get', 'service', svc, '-n', namespace)).spec
    .selector;
}

async function absent(namespace: string, kind: string, name: string): Promise<boolean> {
  const out = await kubectl('get', kind, name, '-n', namespace, '--ignore-not-found', '-o', 'name');
  return out.trim() === '';
}

/** Watches the namespace's HTTPRoutes and Deployments, keeping each event with its resourceVersion. */
async function record(namespace: string) {
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfigPath);
  const watch = new Watch(config);
  const list: {
    kind: string;
    type: string;
    name: string;
    resourceVersion: string;
    canaryWeight?: number;
    replicas?: number;
    rollbacks?: string;
  }[] = [];
  type Obj = {
    metadata: { name: string; resourceVersion: string; annotations?: Record<string, string> };
    spec: { replicas?: number; rules?: { backendRefs?: { name: string; weight?: number }[] }[] };
  };
  const keep = (kind: string) => (type: string, obj: Obj) => {
    const canary = obj.spec.rules?.[0]?.backendRefs?.find((r) => r.name === 'hello-canary');
    list.push({
      kind,
      type,
      name: obj.metadata.name,
      resourceVersion: obj.metadata.resourceVersion,
      ...(kind === 'HTTPRoute' && { canaryWeight: canary ? (canary.weight ?? 1) : 0 }),
      ...(kind === 'Deployment' && { replicas: obj.spec.replicas ?? 1 }),
      ...(kind === 'Deployment' && { rollbacks: obj.metadata.annotations?.['opsflow.dev/rollbacks'] ?? '' }),
    });
  };
  const started = await Promise.all([
    watch.watch(
      `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
      {},
      keep('HTTPRoute'),
      () => {},
    ),
    watch.watch(`/apis/apps/v1/namespaces/${namespace}/deployments`, {}, keep('Deployment'), () => {}),
  ]);
  watches.push(...started);
  // The initial ADDED events arrive first; the rollback's come after.
  await sleep(300);
  return { list, stop: () => started.forEach((w) => w.abort()) };
}

describe('kubernetes target with an HTTPRoute', { skip }, () => {
  describeTargetContract('kubernetes target with an HTTPRoute', async () => {
    const namespace = await app('contract-route', { route: true });
    return contractSubject(target(namespace, { httpRoute: true }), () => dropNamespace(namespace));
  });
});

describe('kubernetes target by replica ratio', { skip }, () => {
  describeTargetContract('kubernetes target by replica ratio', async () => {
    const namespace = await app('contract-ratio');
    return contractSubject(target(namespace), () => dropNamespace(namespace));
  });
});

describe('kubernetes target on a real control plane', { skip }, () => {
  it('canary through an HTTPRoute: the weights at every step, each Service on its own pods, a promotion that completes', async (t) => {
    const namespace = await app('route', { replicas: 4, route: true });
    const k8s = target(namespace, { httpRoute: true });
    const A = 'deploy-hello-1.1.0-staging';
    const started = Date.now();
    await k8s.startRelease(release(A, '1.1.0'));
    const timings: string[] = [`start ${Date.now() - started} ms`];
    assert.deepEqual(await routeSplit(namespace), ['hello=100', 'hello-canary=0']);
    const pinned = await selector(namespace, 'hello');
    assert.equal(pinned['app'], 'hello');
    assert.ok(pinned['pod-template-hash'], 'the stable Service is pinned to the stable ReplicaSet');
    assert.deepEqual(await selector(namespace, 'hello-canary'), {
      app: 'hello',
      'opsflow.dev/role': 'canary',
      'opsflow.dev/deploy-hash': (await deployment(namespace, 'hello-canary')).metadata.labels![
        'opsflow.dev/deploy-hash'
      ]!,
    });
    const canary = await deployment(namespace, 'hello-canary');
    assert.equal(canary.metadata.annotations?.['opsflow.dev/deploy-id'], A);
    assert.equal(canary.metadata.annotations?.['opsflow.dev/version'], '1.1.0');
    assert.equal(canary.spec.template.spec.containers[0]?.image, image('1.1.0'));
    // Where each version's metrics are, for {{namespace}} and {{workload}} in PromQL.
    assert.deepEqual(await k8s.metricLabels(at(A), '1.1.0'), { namespace, workload: 'hello-canary' });
    assert.deepEqual(await k8s.metricLabels(at(A), '1.0.0'), { namespace, workload: 'hello' });
    // Exact: the stable Service reaches the stable pods only, the canary's Service the canary's only.
    await endpointsBecome(namespace, 'hello', () => podIps(namespace, 'app=hello,!opsflow.dev/role'));
    await endpointsBecome(namespace, 'hello-canary', () => podIps(namespace, 'opsflow.dev/role=canary'));

    for (const [w, replicas] of [
      [10, 1],
      [25, 1],
      [50, 2],
      [100, 4],
    ] as const) {
      const stepStarted = Date.now();
      const result = await k8s.setWeight(weight(A, w));
      timings.push(`${w} % ${Date.now() - stepStarted} ms`);
      assert.equal(result.weight, w);
      assert.equal(result.approximate, undefined);
      assert.deepEqual(await routeSplit(namespace), [`hello=${100 - w}`, `hello-canary=${w}`]);
      assert.equal((await deployment(namespace, 'hello-canary')).spec.replicas, replicas, `canary replicas at ${w} %`);
      assert.deepEqual((await k8s.status(at(A))).canary, { version: '1.1.0', weight: w, deployId: A });
    }
    await endpointsBecome(namespace, 'hello-canary', () => podIps(namespace, 'opsflow.dev/role=canary'));

    const promoting = Date.now();
    const promoted = await k8s.promote(release(A, '1.1.0'));
    timings.push(`promote ${Date.now() - promoting} ms`);
    t.diagnostic(`time per operation on the cluster: ${timings.join(', ')}`);
    assert.match(promoted.detail, /1\.1\.0 is stable at 100 % on 4 replicas/);
    const stable = await deployment(namespace, 'hello');
    assert.equal(stable.spec.template.spec.containers[0]?.image, image('1.1.0'));
    assert.equal(stable.metadata.annotations?.['opsflow.dev/deploy-id'], A);
    assert.equal(stable.metadata.annotations?.['opsflow.dev/previous-image'], image('1.0.0'));
    await kubectl('rollout', 'status', '-n', namespace, 'deployment/hello', '--timeout=5s');
    assert.ok(await absent(namespace, 'deployment', 'hello-canary'));
    assert.ok(await absent(namespace, 'service', 'hello-canary'));
    assert.deepEqual(await routeSplit(namespace), ['hello=100']);
    assert.deepEqual(await selector(namespace, 'hello'), { app: 'hello' }, "the Service's own selector is back");
    assert.deepEqual(await k8s.status(at(A)), { stable: { version: '1.1.0', deployId: A }, canary: null });
    await dropNamespace(namespace);
  });

  it('replica ratio: the canary has the weight’s share of the stable replicas, and the split says it is approximate', async () => {
    const namespace = await app('ratio', { replicas: 4 });
    const k8s = target(namespace);
    const A = 'deploy-ratio';
    await k8s.startRelease(release(A, '1.1.0'));
    assert.equal((await deployment(namespace, 'hello-canary')).spec.replicas, 0, 'no pod at 0 %');
    for (const [w, replicas] of [
      [10, 1],
      [50, 2],
      [100, 4],
    ] as const) {
      const result = await k8s.setWeight(weight(A, w));
      assert.equal(result.approximate, true);
      assert.equal((await deployment(namespace, 'hello-canary')).spec.replicas, replicas);
      // One Service for both: its endpoints are the stable pods and the canary's.
      await endpointsBecome(namespace, 'hello', () => podIps(namespace, 'app=hello'));
      assert.equal((await podIps(namespace, 'opsflow.dev/role=canary')).length, replicas);
    }
    const status = await k8s.status(at(A));
    assert.equal(status.approximate, true);
    assert.deepEqual(status.canary, { version: '1.1.0', weight: 100, deployId: A });
    assert.deepEqual(await selector(namespace, 'hello'), { app: 'hello' }, 'no pin without a router');
    await k8s.promote(release(A, '1.1.0'));
    assert.ok(await absent(namespace, 'deployment', 'hello-canary'));
    await dropNamespace(namespace);
  });

  it('a canary whose image never becomes ready fails its start naming ImagePullBackOff; rollback clears it', async () => {
    const namespace = await app('faulty-start', { route: true });
    const k8s = target(namespace, { httpRoute: true, progressDeadline: '3s' });
    const A = 'deploy-faulty-start';
    await assert.rejects(k8s.startRelease(release(A, FAULTY_EVERYWHERE)), (err: unknown) => {
      assert.ok(err instanceof RolloutFailed, String(err));
      assert.match(err.message, /^canary 6\.6\.6 in .*\/hello-canary: exceeded its progress deadline/);
      assert.match(err.message, /1 pod ImagePullBackOff \(hello-canary-[a-z0-9-]+\/hello: Back-off pulling image/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
    const rolled = await k8s.rollback(step(A));
    assert.equal(rolled.rolledBack, true);
    assert.ok(await absent(namespace, 'deployment', 'hello-canary'));
    assert.deepEqual(await routeSplit(namespace), ['hello=100']);
    assert.deepEqual(await selector(namespace, 'hello'), { app: 'hello' });
    await dropNamespace(namespace);
  });

  it('a promotion whose rollout never becomes available is undone to the previous image, and says why', async () => {
    const namespace = await app('faulty-promote', { replicas: 3, route: true });
    const k8s = target(namespace, { httpRoute: true, progressDeadline: '4s' });
    const A = 'deploy-faulty-promote';
    await k8s.startRelease(release(A, FAULTY_AT_SCALE));
    await k8s.setWeight(weight(A, 50));
    let reason = '';
    await assert.rejects(k8s.promote(release(A, FAULTY_AT_SCALE)), (err: unknown) => {
      assert.ok(err instanceof RolloutFailed, String(err));
      reason = err.message;
      assert.match(
        err.message,
        /^rollout of .*\/hello to 7\.7\.7 failed: not available within the progress deadline of 4\.0s/,
      );
      assert.match(err.message, /pods? CrashLoopBackOff \(hello-[a-z0-9]+-[a-z0-9]+\/hello: back-off/);
      assert.match(err.message, /undone: stable image back to registry\.example\/hello:1\.0\.0, canary removed$/);
      return true;
    });
    const stable = await deployment(namespace, 'hello');
    assert.equal(stable.spec.template.spec.containers[0]?.image, image('1.0.0'));
    assert.equal(stable.metadata.annotations?.['opsflow.dev/deploy-id'], undefined);
    await kubectl('rollout', 'status', '-n', namespace, 'deployment/hello', '--timeout=30s');
    assert.ok(await absent(namespace, 'deployment', 'hello-canary'));
    assert.deepEqual(await routeSplit(namespace), ['hello=100']);
    assert.deepEqual(await selector(namespace, 'hello'), { app: 'hello' });
    assert.deepEqual(await k8s.status(at(A)), { stable: { version: '1.0.0', deployId: null }, canary: null });
    // A retried promote answers as the first did; there is nothing left to roll back.
    await assert.rejects(k8s.promote(release(A, FAULTY_AT_SCALE)), (err: unknown) => {
      assert.ok(err instanceof RolloutFailed);
      assert.ok(err.message.startsWith(reason.split('; undone')[0]!), err.message);
      return true;
    });
    // Undone by the promotion itself, not by a rollback: nothing to roll back, and no earlier attempt claimed.
    const nothing = await k8s.rollback(step(A));
    assert.deepEqual([nothing.rolledBack, nothing.by], [false, undefined]);
    await dropNamespace(namespace);
  });

  it("rollback takes the canary's weight to 0, then records itself on the stable Deployment, before the canary is deleted", async () => {
    for (const mode of ['route', 'ratio'] as const) {
      const namespace = await app(`order-${mode}`, { replicas: 4, route: mode === 'route' });
      const k8s = target(namespace, { httpRoute: mode === 'route' });
      const A = `deploy-order-${mode}`;
      await k8s.startRelease(release(A, '1.1.0'));
      await k8s.setWeight(weight(A, 50));
      const events = await record(namespace);
      const calledAt = Date.now();
      const result = await k8s.rollback(step(A));
      await sleep(500);
      events.stop();
      assert.equal(result.rolledBack, true);
      assert.ok(result.weightZeroAt! >= calledAt && result.weightZeroAt! <= Date.now());
      const deleted = events.list.find(
        (e) => e.kind === 'Deployment' && e.name === 'hello-canary' && e.type === 'DELETED',
      );
      assert.ok(deleted, `the canary was deleted: ${JSON.stringify(events.list)}`);
      const zero = events.list.find((e) =>
        mode === 'route'
          ? e.kind === 'HTTPRoute' && e.canaryWeight === 0
          : e.kind === 'Deployment' && e.name === 'hello-canary' && e.replicas === 0,
      );
      assert.ok(zero, `the canary went to 0: ${JSON.stringify(events.list)}`);
      assert.ok(
        BigInt(zero.resourceVersion) < BigInt(deleted.resourceVersion),
        `weight 0 at ${zero.resourceVersion}, deleted at ${deleted.resourceVersion}`,
      );
      // The record a retry reads once the canary is gone: on the stable Deployment, before the delete.
      const recorded = events.list.find((e) => e.kind === 'Deployment' && e.name === 'hello' && e.rollbacks);
      assert.ok(recorded, `the rollback was recorded: ${JSON.stringify(events.list)}`);
      assert.deepEqual(JSON.parse(recorded.rollbacks!), [
        { deployId: A, rollbackId: `${A}/rollback`, version: '1.1.0', weightZeroAt: result.weightZeroAt, canary: true },
      ]);
      assert.ok(BigInt(zero.resourceVersion) < BigInt(recorded.resourceVersion));
      assert.ok(BigInt(recorded.resourceVersion) < BigInt(deleted.resourceVersion));
      const retried = await k8s.rollback(step(A));
      assert.deepEqual(
        [retried.rolledBack, retried.by, retried.weightZeroAt],
        [true, 'earlier-attempt', result.weightZeroAt],
      );
      assert.match(
        retried.detail,
        /^canary 1\.1\.0 at 0 % and deleted; registry\.example\/hello:1\.0\.0 available on 4 replicas$/,
      );
      await dropNamespace(namespace);
    }
  });

  it('blue-green: green behind preview, the switch is the active selector, switch-back is instant, promote retires blue', async () => {
    const namespace = await app('blue-green', { replicas: 2, preview: true });
    const k8s = target(namespace, { blueGreen: true });
    const A = 'deploy-bg';
    await k8s.startRelease(release(A, '1.1.0'));
    const green = () => podIps(namespace, 'opsflow.dev/role=canary');
    const blue = () => podIps(namespace, 'app=hello,!opsflow.dev/role');
    assert.equal((await green()).length, 2, 'green is as large as blue');
    await endpointsBecome(namespace, 'hello', blue);
    await endpointsBecome(namespace, 'hello-preview', green);
    await assert.rejects(k8s.setWeight(weight(A, 50)), InvalidTargetRequest);

    const switched = await k8s.setWeight(weight(A, 100));
    assert.equal(switched.weight, 100);
    await endpointsBecome(namespace, 'hello', green);
    assert.equal((await deployment(namespace, 'hello')).spec.replicas, 2, 'blue stays scaled up');
    assert.equal((await blue()).length, 2);

    await k8s.setWeight(weight(A, 0));
    await endpointsBecome(namespace, 'hello', blue);
    await k8s.setWeight(weight(A, 100));
    await endpointsBecome(namespace, 'hello', green);

    await k8s.promote(release(A, '1.1.0'));
    assert.ok(await absent(namespace, 'deployment', 'hello-canary'));
    assert.deepEqual(await selector(namespace, 'hello'), { app: 'hello' });
    assert.deepEqual(await selector(namespace, 'hello-preview'), { app: 'hello' });
    assert.equal((await deployment(namespace, 'hello')).spec.template.spec.containers[0]?.image, image('1.1.0'));
    await endpointsBecome(namespace, 'hello', blue);

    // The next release is switched to and rolled back: the active Service is on the stable pods again.
    const B = 'deploy-bg-2';
    await k8s.startRelease(release(B, '1.2.0'));
    await k8s.setWeight(weight(B, 100));
    await endpointsBecome(namespace, 'hello', green);
    const rolled = await k8s.rollback(step(B));
    assert.equal(rolled.rolledBack, true);
    await endpointsBecome(namespace, 'hello', blue);
    assert.deepEqual(await k8s.status(at(B)), { stable: { version: '1.1.0', deployId: A }, canary: null });
    await dropNamespace(namespace);
  });

  it('RBAC: the example Role is enough for a canary; without patch on httproutes the error names verb, resource and namespace', async () => {
    const namespace = await app('rbac', { route: true });
    const saNamespace = `${namespace}-sa`;
    await kubectl('create', 'namespace', saNamespace);
    const rbac = readFileSync(path.join(REPO, 'examples/kubernetes/rbac.yaml'), 'utf8')
      .replaceAll('namespace: hello-staging', `namespace: ${namespace}`)
      .replaceAll('namespace: opsflow', `namespace: ${saNamespace}`);
    await cluster.kubectl(['apply', '-f', '-'], rbac);
    const token = (await kubectl('create', 'token', 'opsflow', '-n', saNamespace, '--duration=10m')).trim();
    const kubeconfig = await cluster.kubeconfigFor(token, `opsflow-${namespace}`);
    const k8s = target(namespace, { httpRoute: true, kubeconfig });

    const A = 'deploy-rbac-a';
    await k8s.startRelease(release(A, '1.1.0'));
    await k8s.setWeight(weight(A, 50));
    await k8s.promote(release(A, '1.1.0'));
    assert.deepEqual(await k8s.status(at(A)), { stable: { version: '1.1.0', deployId: A }, canary: null });

    await kubectl(
      'patch',
      'role',
      'opsflow-deployer',
      '-n',
      namespace,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/rules/6/verbs', value: ['get'] }]),
    );
    const B = 'deploy-rbac-b';
    const forbidden =
      `forbidden: system:serviceaccount:${saNamespace}:opsflow cannot patch httproutes.gateway.networking.k8s.io ` +
      `in namespace ${namespace} (hello): grant "patch" on httproutes.gateway.networking.k8s.io in a Role bound to ` +
      'it (see examples/kubernetes/rbac.yaml)';
    await eventually(async () => {
      await assert.rejects(k8s.startRelease(release(B, '1.2.0')), (err: unknown) => {
        assert.ok(err instanceof InvalidTargetRequest, String(err));
        assert.equal(err.message, forbidden);
        return true;
      });
    });
    await dropNamespace(namespace);
    await dropNamespace(saNamespace);
  });

  it('not found names the object and the setting; an unreachable API server names the address tried', async () => {
    const namespace = await app('errors');
    const config = kubernetesTargetConfigSchema.parse({
      kind: 'kubernetes',
      cluster: { kubeconfig: cluster.kubeconfigPath },
      image: IMAGE,
      environments: { [environment]: { namespace, deployment: 'nope' } },
    });
    await assert.rejects(new KubernetesTarget(config).status(at('x')), (err: unknown) => {
      assert.ok(err instanceof InvalidTargetRequest);
      assert.equal(
        err.message,
        `Deployment ${namespace}/nope not found: check target.environments.staging.deployment and .namespace in opsflow.yaml`,
      );
      return true;
    });
    const port = await closedPort();
    const moved = parse(readFileSync(cluster.kubeconfigPath, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    moved.clusters[0]!.cluster.server = `https://127.0.0.1:${port}`;
    const file = path.join(tools, 'unreachable.kubeconfig');
    writeFileSync(file, stringify(moved));
    await assert.rejects(target(namespace, { kubeconfig: file }).status(at('x')), (err: unknown) => {
      assert.ok(err instanceof KubeUnreachable, String(err));
      assert.equal(err.message, `cannot reach the Kubernetes API server at https://127.0.0.1:${port}: ECONNREFUSED`);
      return true;
    });
    await dropNamespace(namespace);
  });
});

/** The subject of one contract case: 1.0.0 stable, 1.1.0 and 1.2.0 to deploy, no registry listing. */
function contractSubject(target: KubernetesTarget, close: () => Promise<void>) {
  return {
    target,
    service,
    environment,
    stable: '1.0.0',
    releases: ['1.1.0', '1.2.0'] as const,
    unknownEnvironment: 'production',
    close,
  };
}

function yamlDocs(file: string): { kind: string; spec: Record<string, unknown> }[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map(
    (d) => d.toJSON() as { kind: string; spec: Record<string, unknown> },
  );
}

async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
