/**
 * How traffic reaches the new release, one router per way (as Argo Rollouts has a TrafficRoutingReconciler per
 * router): an HTTPRoute's backendRef weights (exact), replica counts behind the one Service (approximate, when there is
 * no router), or a Service selector switched all at once (blue-green). Each step reads the cluster first and changes
 * only what differs, so a retried step finds what the first attempt did.
 *
 * Services keep to the pods they should serve by their selectors: while a release runs, opsflow adds the stable
 * ReplicaSet's `pod-template-hash` to the stable (or active) Service's selector, so the new pods, which carry the same
 * app labels, take no traffic through it (Argo Rollouts does the same); the Service's own selector is kept in an
 * annotation and put back when the release ends.
 */
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { InvalidTargetRequest } from '../contract';
import { KubeConflict, type BackendRef, type HttpRoute, type KubeClient } from './client';
import { ANNOTATION, LABEL } from './labels';
import { currentReplicaSet } from './rollout';

/** One environment as the target acts on it. */
export interface KubeEnvironment {
  name: string;
  client: KubeClient;
  namespace: string;
  /** The stable Deployment and its container. */
  deployment: string;
  container: string | undefined;
  /** The stable Service (canary) or the active Service (blue-green). */
  service: string;
  canaryDeployment: string;
  canaryService: string;
  httpRoute: { name: string; namespace: string } | undefined;
  previewService: string | undefined;
  /** The opsflow.yaml path of this environment's settings, for messages. */
  setting: string;
}

/** The new release's traffic: its weight and since when (epoch ms), when known. */
export interface Share {
  weight: number;
  changedAt?: number;
}

/** A way of moving traffic to the new release. */
export interface Router {
  readonly mode: 'http-route' | 'replica-ratio' | 'blue-green';
  /** True when the split follows replica counts, not exact weights. */
  readonly approximate: boolean;
  /** The canary Deployment's replicas for `weight`, given the stable Deployment's. */
  replicasFor(weight: number, stableReplicas: number): number;
  /** Before the new pods exist: the Services that must not reach them stay on the stable pods. */
  prepare(env: KubeEnvironment, stable: V1Deployment): Promise<void>;
  /** Once the canary Deployment exists: what routes to it, at 0 % (its Service, backendRef, preview). */
  attach(env: KubeEnvironment, canary: V1Deployment, hash: string): Promise<void>;
  /** The canary's share now. */
  current(env: KubeEnvironment, canary: V1Deployment, hash: string): Promise<Share>;
  /** Routes `weight` to the canary (scaled for it beforehand by the caller); answers the share read back. */
  shift(env: KubeEnvironment, canary: V1Deployment, hash: string, weight: number, stable: V1Deployment): Promise<Share>;
  /** Before the stable Deployment's image changes: the Services must follow its new pods. */
  beforePromotion(env: KubeEnvironment, canary: V1Deployment, hash: string, stable: V1Deployment): Promise<void>;
  /** Once the canary Deployment is deleted: nothing routes to it, and the Services' own selectors are back. */
  detach(env: KubeEnvironment): Promise<void>;
}

/** How many times a change is retried at once when the object moved between the read and the write. */
const CONFLICT_RETRIES = 5;

/** Runs a read-modify-write until it is not refused as stale (a 409 on a patch with a resourceVersion). */
async function optimistic<T>(change: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await change();
    } catch (err) {
      if (!(err instanceof KubeConflict) || err.reason !== 'Conflict' || attempt >= CONFLICT_RETRIES) throw err;
    }
  }
}

/** A Service the environment names; not found is a final error naming the setting. */
async function service(env: KubeEnvironment, name: string, setting: string): Promise<V1Service> {
  const found = await env.client.getService(env.namespace, name, `${env.setting}.${setting}`);
  if (!found) {
    throw new InvalidTargetRequest(
      `Service ${env.namespace}/${name} not found: check ${env.setting}.${setting} in opsflow.yaml`,
    );
  }
  return found;
}

/** The Service's own selector: the one opsflow saved before changing it, or the one it has. */
export function ownSelector(svc: V1Service): Record<string, string> {
  const saved = svc.metadata?.annotations?.[ANNOTATION.selector];
  if (saved) {
    try {
      return JSON.parse(saved) as Record<string, string>;
    } catch {
      // An annotation edited by hand: the live selector is the best guess.
    }
  }
  return { ...(svc.spec?.selector ?? {}) };
}

/**
 * Sets the Service's selector to its own selector plus `extra` (null: its own selector alone, and the saved copy
 * dropped), with `annotations` in the same write. Unchanged selectors are not written.
 */
async function select(
  env: KubeEnvironment,
  name: string,
  setting: string,
  extra: Record<string, string> | null,
  annotations: Record<string, string> = {},
): Promise<V1Service> {
  return optimistic(async () => {
    const svc = await service(env, name, setting);
    const own = ownSelector(svc);
    const saved = svc.metadata?.annotations?.[ANNOTATION.selector];
    const wanted = extra ? { ...own, ...extra } : own;
    const live = svc.spec?.selector ?? {};
    const same = sameLabels(live, wanted) && (extra ? saved !== undefined : saved === undefined);
    if (same && Object.keys(annotations).length === 0) return svc;
    const selector: Record<string, string | null> = { ...wanted };
    for (const key of Object.keys(live)) if (!(key in wanted)) selector[key] = null;
    return env.client.patchService(env.namespace, name, {
      metadata: {
        resourceVersion: svc.metadata?.resourceVersion,
        annotations: { ...annotations, [ANNOTATION.selector]: extra ? JSON.stringify(own) : null },
      },
      spec: { selector },
    });
  });
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/** The `pod-template-hash` of the stable Deployment's current ReplicaSet: its pods, and no others. */
async function stablePin(env: KubeEnvironment, stable: V1Deployment): Promise<Record<string, string>> {
  if ((stable.status?.observedGeneration ?? 0) < (stable.metadata?.generation ?? 0)) {
    // Its revision annotation still names the ReplicaSet of the spec before: a moment's wait, so a retry.
    throw new Error(`Deployment ${env.namespace}/${env.deployment}: the controller has not seen its latest spec yet`);
  }
  const rs = await currentReplicaSet(env.client, stable);
  const hash = rs?.metadata?.labels?.[LABEL.podTemplateHash];
  if (!hash) {
    // The controller has not made the ReplicaSet yet: a moment's wait, so a retry.
    throw new Error(`Deployment ${env.namespace}/${env.deployment} has no ReplicaSet for its current revision yet`);
  }
  return { [LABEL.podTemplateHash]: hash };
}

/** The weight in an annotation, or undefined. */
function numberAnnotation(annotations: Record<string, string> | undefined, key: string): number | undefined {
  const text = annotations?.[key];
  if (text === undefined) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

function share(weight: number, changedAt: number | undefined): Share {
  return changedAt === undefined ? { weight } : { weight, changedAt };
}

/** The canary's Service: a ClusterIP clone of the stable Service's ports, selecting this deploy's pods only. */
async function ensureCanaryService(env: KubeEnvironment, hash: string, deployId: string): Promise<void> {
  const stable = await service(env, env.service, 'service');
  const selector = { ...ownSelector(stable), [LABEL.role]: 'canary', [LABEL.deployHash]: hash };
  const existing = await env.client.getService(env.namespace, env.canaryService);
  if (existing) {
    if (sameLabels(existing.spec?.selector ?? {}, selector)) return;
    if (existing.metadata?.labels?.[LABEL.role] !== 'canary') {
      throw new InvalidTargetRequest(
        `Service ${env.namespace}/${env.canaryService} exists and is not opsflow's: opsflow needs the name for the canary`,
      );
    }
    // Left by an earlier deploy whose cleanup did not finish: it is taken over for this one.
    await env.client.patchService(env.namespace, env.canaryService, {
      metadata: { annotations: { [ANNOTATION.deployId]: deployId }, labels: { [LABEL.deployHash]: hash } },
      spec: { selector },
    });
    return;
  }
  const ports = (stable.spec?.ports ?? []).map((p) => ({
    ...(p.name !== undefined && { name: p.name }),
    port: p.port,
    ...(p.targetPort !== undefined && { targetPort: p.targetPort }),
    ...(p.protocol !== undefined && { protocol: p.protocol }),
    ...(p.appProtocol !== undefined && { appProtocol: p.appProtocol }),
  }));
  try {
    await env.client.createService(env.namespace, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: env.canaryService,
        namespace: env.namespace,
        labels: { ...(stable.metadata?.labels ?? {}), [LABEL.role]: 'canary', [LABEL.deployHash]: hash },
        annotations: { [ANNOTATION.deployId]: deployId },
      },
      spec: { type: 'ClusterIP', selector, ports },
    });
  } catch (err) {
    if (!(err instanceof KubeConflict && err.reason === 'AlreadyExists')) throw err;
  }
}

/** Is this backendRef the Service `name` in `namespace` (the route's own namespace when the ref names none)? */
function refersTo(ref: BackendRef, name: string, namespace: string, routeNamespace: string): boolean {
  const core = (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service';
  return core && ref.name === name && (ref.namespace ?? routeNamespace) === namespace;
}

/** The rules of the route that send traffic to the stable Service; none is a final error naming the route. */
function stableRules(env: KubeEnvironment, route: HttpRoute): number[] {
  const routeNs = route.metadata.namespace;
  const rules = (route.spec.rules ?? []).flatMap((rule, i) =>
    (rule.backendRefs ?? []).some((r) => refersTo(r, env.service, env.namespace, routeNs)) ? [i] : [],
  );
  if (rules.length === 0) {
    throw new InvalidTargetRequest(
      `HTTPRoute ${routeNs}/${route.metadata.name} has no backendRef to Service ${env.namespace}/${env.service}: ` +
        `add one, or set ${env.setting}.service`,
    );
  }
  return rules;
}

/** The canary's weight in the route: its backendRef's weight in the first rule that routes to stable, else 0. */
export function routeWeight(env: KubeEnvironment, route: HttpRoute): number {
  const [first] = stableRules(env, route);
  const refs = route.spec.rules?.[first ?? 0]?.backendRefs ?? [];
  const canary = refs.find((r) => refersTo(r, env.canaryService, env.namespace, route.metadata.namespace));
  return canary ? (canary.weight ?? 1) : 0;
}

/**
 * The route's rules with the canary at `weight` beside stable at 100 - weight in every rule that routes to stable
 * (null: the canary's backendRef removed and stable at 100).
 */
export function weighRules(env: KubeEnvironment, route: HttpRoute, weight: number | null): HttpRoute['spec']['rules'] {
  const routeNs = route.metadata.namespace;
  const targets = new Set(stableRules(env, route));
  return (route.spec.rules ?? []).map((rule, i) => {
    if (!targets.has(i)) return rule;
    const refs = rule.backendRefs ?? [];
    const stable = refs.find((r) => refersTo(r, env.service, env.namespace, routeNs));
    const others = refs.filter((r) => !refersTo(r, env.canaryService, env.namespace, routeNs));
    const weighed = others.map((r) => (r === stable ? { ...r, weight: 100 - (weight ?? 0) } : r));
    if (weight === null || !stable) return { ...rule, backendRefs: weighed };
    const { weight: _stableWeight, name: _name, ...like } = stable;
    const canary: BackendRef = { ...like, name: env.canaryService, weight };
    const at = weighed.findIndex((r) => refersTo(r, env.service, env.namespace, routeNs));
    return { ...rule, backendRefs: [...weighed.slice(0, at + 1), canary, ...weighed.slice(at + 1)] };
  });
}

/** The route the environment names. */
function readRoute(env: KubeEnvironment): Promise<HttpRoute> {
  const route = env.httpRoute!;
  return env.client.getHttpRoute(route.namespace, route.name, `${env.setting}.httpRoute`);
}

/**
 * Sets the canary's weight in the route (null: removes its backendRef), with the time of the change in an annotation
 * on the route in the same write, so the time and the weight never disagree.
 */
async function weighRoute(env: KubeEnvironment, weight: number | null): Promise<Share> {
  return optimistic(async () => {
    const route = await readRoute(env);
    const now = routeWeight(env, route);
    const present = (route.spec.rules ?? []).some((r) =>
      (r.backendRefs ?? []).some((b) => refersTo(b, env.canaryService, env.namespace, route.metadata.namespace)),
    );
    const changedAt = numberAnnotation(route.metadata.annotations, ANNOTATION.weightChangedAt);
    if (weight === null ? !present : present && now === weight) return share(now, changedAt);
    const at = now === (weight ?? 0) ? (changedAt ?? Date.now()) : Date.now();
    const patched = await env.client.patchHttpRoute(route.metadata.namespace, route.metadata.name, {
      metadata: {
        resourceVersion: route.metadata.resourceVersion,
        annotations: { [ANNOTATION.weightChangedAt]: String(at) },
      },
      spec: { rules: weighRules(env, route, weight) },
    });
    const after = routeWeight(env, patched);
    if (after !== (weight ?? 0)) {
      throw new Error(`HTTPRoute ${route.metadata.namespace}/${route.metadata.name} shows ${after} % after the patch`);
    }
    return share(after, at);
  });
}

/** Exact split: the canary's own Service beside the stable one in the HTTPRoute, weighed per step. */
export const httpRouteRouter: Router = {
  mode: 'http-route',
  approximate: false,
  // Capacity for the share it takes; at least one pod, so the release is seen to start before it takes traffic.
  replicasFor: (weight, stableReplicas) => Math.max(1, Math.ceil((weight * stableReplicas) / 100)),
  async prepare(env, stable) {
    await select(env, env.service, 'service', await stablePin(env, stable));
  },
  async attach(env, canary, hash) {
    await ensureCanaryService(env, hash, canary.metadata?.annotations?.[ANNOTATION.deployId] ?? '');
    const route = await readRoute(env);
    const present = (route.spec.rules ?? []).some((r) =>
      (r.backendRefs ?? []).some((b) => refersTo(b, env.canaryService, env.namespace, route.metadata.namespace)),
    );
    if (!present) await weighRoute(env, 0);
  },
  async current(env) {
    const route = await readRoute(env);
    return share(routeWeight(env, route), numberAnnotation(route.metadata.annotations, ANNOTATION.weightChangedAt));
  },
  async shift(env, _canary, _hash, weight) {
    return weighRoute(env, weight);
  },
  async beforePromotion(env) {
    // The stable Service follows the Deployment's new pods as its rollout replaces the pinned ones.
    await select(env, env.service, 'service', null);
  },
  async detach(env) {
    await weighRoute(env, null);
    await env.client.deleteService(env.namespace, env.canaryService);
    await select(env, env.service, 'service', null);
  },
};

/** No router: the canary's pods join the stable ones behind the one Service; its share follows the replica counts. */
export const replicaRatioRouter: Router = {
  mode: 'replica-ratio',
  approximate: true,
  // As Argo Rollouts without a traffic router: the weight's share of the stable replicas, rounded up.
  replicasFor: (weight, stableReplicas) => Math.ceil((weight * stableReplicas) / 100),
  async prepare() {},
  async attach() {},
  async current(_env, canary) {
    const annotations = canary.metadata?.annotations;
    return share(
      numberAnnotation(annotations, ANNOTATION.weight) ?? 0,
      numberAnnotation(annotations, ANNOTATION.weightChangedAt),
    );
  },
  async shift(env, canary, _hash, weight, stable) {
    const now = await this.current(env, canary, _hash);
    if (now.weight === weight) return now;
    const at = Date.now();
    const replicas = this.replicasFor(weight, stable.spec?.replicas ?? 1);
    await env.client.patchDeployment(
      env.namespace,
      env.canaryDeployment,
      {
        metadata: { annotations: { [ANNOTATION.weight]: String(weight), [ANNOTATION.weightChangedAt]: String(at) } },
        spec: { replicas },
      },
      'merge',
    );
    return { weight, changedAt: at };
  },
  async beforePromotion() {},
  async detach() {},
};

/** Blue-green: green behind the preview Service; the active Service's selector switches between blue and green. */
export const blueGreenRouter: Router = {
  mode: 'blue-green',
  approximate: false,
  // Green is as large as blue, so the switch moves all traffic to a release that can take it.
  replicasFor: (_weight, stableReplicas) => Math.max(1, stableReplicas),
  async prepare(env, stable) {
    await select(env, env.service, 'activeService', await stablePin(env, stable));
  },
  async attach(env, _canary, hash) {
    await select(env, env.previewService!, 'previewService', { [LABEL.deployHash]: hash });
  },
  async current(env, _canary, hash) {
    const active = await service(env, env.service, 'activeService');
    const weight = active.spec?.selector?.[LABEL.deployHash] === hash ? 100 : 0;
    return share(weight, numberAnnotation(active.metadata?.annotations, ANNOTATION.weightChangedAt));
  },
  async shift(env, canary, hash, weight, stable) {
    if (weight !== 0 && weight !== 100) {
      throw new InvalidTargetRequest(
        `blue-green in ${env.name} switches all traffic at once: route 0 or 100 %, not ${weight} ` +
          `(for steps, use an httpRoute or no blueGreen in ${env.setting})`,
      );
    }
    const now = await this.current(env, canary, hash);
    if (now.weight === weight) return now;
    const at = Date.now();
    const pin = weight === 100 ? { [LABEL.deployHash]: hash } : await stablePin(env, stable);
    await select(env, env.service, 'activeService', pin, { [ANNOTATION.weightChangedAt]: String(at) });
    return { weight, changedAt: at };
  },
  async beforePromotion(env, canary, hash, stable) {
    // Green takes everything while the stable Deployment rolls out the same version behind it.
    await this.shift(env, canary, hash, 100, stable);
  },
  async detach(env) {
    await select(env, env.previewService!, 'previewService', null);
    await select(env, env.service, 'activeService', null);
  },
};
