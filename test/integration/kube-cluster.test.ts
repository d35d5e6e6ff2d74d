import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { kubeSkipReason, startKubeCluster, type KubeCluster } from '../helpers/kube-cluster';

// CI builds the tools (.ci/run) and must run this test; elsewhere unbuilt tools skip it with the command to run.
const skip = kubeSkipReason();

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: { app: hello }
  template:
    metadata:
      labels: { app: hello }
    spec:
      containers:
        - name: hello
          # Never pulled: kwok fakes the kubelet.
          image: registry.invalid/hello:1.0.0
`;

const HTTP_ROUTE = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: hello
  namespace: default
spec:
  rules:
    - backendRefs:
        - { name: hello-stable, port: 80, weight: 90 }
        - { name: hello-canary, port: 80, weight: 10 }
`;

interface Pod {
  spec: { nodeName?: string };
  status: { conditions?: { type: string; status: string }[] };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a real Kubernetes control plane: etcd, kube-apiserver, controller-manager, scheduler, kwok', { skip }, () => {
  let cluster: KubeCluster | undefined;

  before(async () => {
    cluster = await startKubeCluster();
  });

  after(async () => {
    await cluster?.stop();
  });

  async function weights(): Promise<number[]> {
    const route = JSON.parse(await cluster!.kubectl(['get', 'httproute', 'hello', '-o', 'json'])) as {
      spec: { rules: { backendRefs: { weight: number }[] }[] };
    };
    return route.spec.rules[0]!.backendRefs.map((ref) => ref.weight);
  }

  it('starts with all five components running and a Ready fake node', () => {
    assert.deepEqual(Object.keys(cluster!.pids).sort(), [
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
    ]);
    assert.match(cluster!.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('makes a 2-replica Deployment available: scheduled on the fake node, made Ready by kwok', async () => {
    await cluster!.kubectl(['apply', '-f', '-'], DEPLOYMENT);
    await cluster!.kubectl(['rollout', 'status', 'deployment/hello', '--timeout=60s']);
    const deployment = JSON.parse(await cluster!.kubectl(['get', 'deployment', 'hello', '-o', 'json'])) as {
      status: { availableReplicas?: number };
    };
    assert.equal(deployment.status.availableReplicas, 2);
    const pods = (
      JSON.parse(await cluster!.kubectl(['get', 'pods', '-l', 'app=hello', '-o', 'json'])) as { items: Pod[] }
    ).items;
    assert.equal(pods.length, 2);
    for (const pod of pods) {
      assert.equal(pod.spec.nodeName, cluster!.nodeName);
      assert.ok(pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }
  });

  it('stores an HTTPRoute with two weighted backendRefs and patches its weights', async () => {
    await cluster!.kubectl(['apply', '--server-side', '-f', '-'], HTTP_ROUTE);
    assert.deepEqual(await weights(), [90, 10]);
    const patch = (stable: number, canary: number) =>
      JSON.stringify([
        { op: 'replace', path: '/spec/rules/0/backendRefs/0/weight', value: stable },
        { op: 'replace', path: '/spec/rules/0/backendRefs/1/weight', value: canary },
      ]);
    await cluster!.kubectl(['patch', 'httproute', 'hello', '--type=json', '-p', patch(50, 50)]);
    assert.deepEqual(await weights(), [50, 50]);
    // The CRD's schema is real: a negative weight is refused and the stored route is unchanged.
    await assert.rejects(
      cluster!.kubectl(['patch', 'httproute', 'hello', '--type=json', '-p', patch(-1, 100)]),
      /weight/,
    );
    assert.deepEqual(await weights(), [50, 50]);
  });

  it('writes a working kubeconfig for a service account token', async () => {
    await cluster!.kubectl(['create', 'serviceaccount', 'deployer']);
    const token = (await cluster!.kubectl(['create', 'token', 'deployer'])).trim();
    const kubeconfig = await cluster!.kubeconfigFor(token, 'deployer');
    assert.ok(existsSync(kubeconfig));
    const whoami = await cluster!.kubectl([
      '--kubeconfig',
      kubeconfig,
      'auth',
      'whoami',
      '-o',
      'jsonpath={.status.userInfo.username}',
    ]);
    assert.equal(whoami, 'system:serviceaccount:default:deployer');
    // RBAC is on: the service account may not list deployments until someone grants it.
    const allowed = await cluster!
      .kubectl(['--kubeconfig', kubeconfig, 'auth', 'can-i', 'list', 'deployments'])
      .catch((err: Error) => err.message);
    assert.match(allowed, /exited 1: no$/);
  });

  it('stop() ends every process it started and removes its folder', async () => {
    const pids = Object.values(cluster!.pids);
    assert.equal(pids.length, 5);
    assert.ok(pids.every(alive));
    await cluster!.stop();
    assert.deepEqual(
      pids.filter((pid) => alive(pid)),
      [],
    );
    assert.equal(existsSync(cluster!.dir), false);
  });
});
