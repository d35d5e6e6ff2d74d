/**
 * The Kubernetes test tools as the kubernetes target's tests use them: the folder `scripts/kube-tools` built, with
 * kwok's stages changed for these tests (test/helpers/kube-cluster.ts starts a cluster from such a folder).
 */
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { kubeToolsAvailable } from './kube-cluster';

/** The example service's image template. */
export const IMAGE = 'registry.example/hello:{{version}}';
export const image = (version: string) => IMAGE.replace('{{version}}', version);
/** Pods with this image never pull it. */
export const FAULTY_EVERYWHERE = '6.6.6';
/** Pods with this image crash, except the canary's. */
export const FAULTY_AT_SCALE = '7.7.7';

/**
 * A tools folder beside the built one (same binaries and CRDs) whose kwok stages make two images faulty: the
 * cluster's pod-ready stage skips them, and a stage of their own leaves their containers waiting. The node's
 * heartbeat comes often enough for a run longer than a minute.
 */
export function toolsWithFaultyImages(): string {
  const built = kubeToolsAvailable();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-kube-tools-'));
  if (!built) return dir;
  symlinkSync(path.join(built, 'bin'), path.join(dir, 'bin'));
  // Copied: kubectl reads a symlink to a folder as a file.
  cpSync(path.join(built, 'gateway-api'), path.join(dir, 'gateway-api'), { recursive: true });
  const stages = parseAllDocuments(readFileSync(path.join(built, 'kwok-stages.yaml'), 'utf8')).map(
    (d) => d.toJSON() as Stage | null,
  );
  const image0 = '.spec.containers.[0].image';
  const isCanary = '.metadata.labels.["opsflow.dev/role"]';
  const faulty = [image(FAULTY_EVERYWHERE), image(FAULTY_AT_SCALE)];
  for (const stage of stages) {
    if (stage?.metadata.name === 'node-heartbeat-with-lease' && stage.spec.delay) {
      // kwok runs here without node leases, so the node's status is its only heartbeat: every 15-20 s instead of
      // every 10 minutes, or the node controller finds the node silent after 50 s and marks every pod on it NotReady.
      stage.spec.delay = { durationMilliseconds: 15_000, jitterDurationMilliseconds: 20_000 };
    }
    if (stage?.metadata.name === 'pod-ready') {
      // Everything but the faulty images, and FAULTY_AT_SCALE in the canary, becomes ready as before.
      const others = structuredClone(stage);
      others.spec.selector.matchExpressions.push({ key: image0, operator: 'NotIn', values: faulty });
      const canaryAtScale = structuredClone(stage);
      canaryAtScale.metadata.name = 'pod-ready-canary';
      canaryAtScale.spec.selector.matchExpressions.push(
        { key: image0, operator: 'In', values: [image(FAULTY_AT_SCALE)] },
        { key: isCanary, operator: 'In', values: ['canary'] },
      );
      Object.assign(stage, others);
      stages.push(canaryAtScale);
    }
  }
  const waiting = (name: string, values: string[], canary: 'Exists' | 'DoesNotExist' | null, reason: string) => ({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Pod' },
      selector: {
        matchExpressions: [
          { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
          { key: '.status.podIP', operator: 'DoesNotExist' },
          { key: image0, operator: 'In', values },
          ...(canary ? [{ key: isCanary, operator: canary }] : []),
        ],
      },
      next: { statusTemplate: waitingStatus(reason) },
    },
  });
  stages.push(
    waiting('pod-image-pull-backoff', [image(FAULTY_EVERYWHERE)], null, 'ImagePullBackOff'),
    waiting('pod-crash-loop', [image(FAULTY_AT_SCALE)], 'DoesNotExist', 'CrashLoopBackOff'),
  );
  writeFileSync(
    path.join(dir, 'kwok-stages.yaml'),
    stages
      .filter((s) => s)
      .map((s) => stringify(s))
      .join('---\n'),
  );
  return dir;
}

interface Stage {
  metadata: { name: string };
  spec: {
    selector: { matchExpressions: { key: string; operator: string; values?: string[] }[] };
    delay?: { durationMilliseconds: number; jitterDurationMilliseconds?: number };
  };
}

/** A pod that is placed and has an IP, its containers waiting for `reason`, as a kubelet reports it. */
function waitingStatus(reason: string): string {
  const message =
    reason === 'ImagePullBackOff'
      ? '{{ printf "Back-off pulling image %q" .image | Quote }}'
      : '"back-off 10s restarting failed container=hello"';
  return `{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: ${reason === 'CrashLoopBackOff' ? 3 : 0}
  state:
    waiting:
      reason: ${reason}
      message: ${message}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Pending
startTime: {{ $now | Quote }}
`;
}
