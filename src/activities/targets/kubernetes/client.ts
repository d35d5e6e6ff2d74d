/**
 * The Kubernetes API as the kubernetes target uses it: the official client (@kubernetes/client-node, loaded on first
 * use, since it takes about a second to load), a request timeout, and every failure translated into one line a person
 * can act on and into the contract's final or transient errors: forbidden, not found, invalid and unauthorised are
 * final (InvalidTargetRequest); an unreachable server, a timeout, 429 and 5xx are transient (plain Errors, retried).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RequestContext,
  ResponseContext,
  V1Deployment,
  V1Pod,
  V1ReplicaSet,
  V1Service,
  VersionApi,
} from '@kubernetes/client-node';
import type * as kubeTypes from '@kubernetes/client-node';
import { z } from 'zod';
import { InvalidTargetRequest } from '../contract';
import type { ClusterConfig } from './config';

type KubeModule = typeof kubeTypes;
let kubeModule: Promise<KubeModule> | undefined;

/** The client library, loaded once, when a kubernetes target first talks to its cluster. */
function loadKubeModule(): Promise<KubeModule> {
  kubeModule ??= import('@kubernetes/client-node');
  return kubeModule;
}

/** What a call does, for messages: `patch httproutes.gateway.networking.k8s.io staging/hello`. */
export interface KubeOperation {
  verb: 'get' | 'list' | 'create' | 'patch' | 'delete';
  /** The resource as RBAC names it: plural, dot, API group (`deployments.apps`; core resources without a group). */
  resource: string;
  namespace: string;
  name?: string;
  /** The opsflow.yaml setting that names the object, for a not-found message. */
  setting?: string;
}

/** A 409 from the API server: an object that already exists (create) or changed since it was read (update). */
export class KubeConflict extends Error {
  override name = 'KubeConflict';

  constructor(
    readonly reason: 'AlreadyExists' | 'Conflict',
    message: string,
  ) {
    super(message);
  }
}

/** The API server could not be reached or did not answer in time: transient, so the operation is retried. */
export class KubeUnreachable extends Error {
  override name = 'KubeUnreachable';
}

/** A Kubernetes Status object, as the API server sends it with every refusal. */
const statusSchema = z
  .object({
    message: z.string().optional(),
    reason: z.string().optional(),
    details: z
      .object({ name: z.string().optional(), group: z.string().optional(), kind: z.string().optional() })
      .partial()
      .optional(),
  })
  .passthrough();
export type KubeStatus = z.infer<typeof statusSchema>;

/** The ApiException of the client, as far as this module reads it. */
interface ApiExceptionLike {
  code: number;
  body?: unknown;
}

function isApiException(err: unknown): err is ApiExceptionLike {
  return (
    err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err && 'headers' in err
  );
}

/** The Status in an error's body (a JSON string, or already parsed), or an empty one. */
export function statusOf(body: unknown): KubeStatus {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return { message: body.trim().slice(0, 300) };
    }
  }
  const parsed = statusSchema.safeParse(value);
  return parsed.success ? parsed.data : {};
}

/** `kind namespace/name` or `kind namespace/*`, for messages. */
export function describeObject(op: Pick<KubeOperation, 'resource' | 'namespace' | 'name'>): string {
  return `${op.resource} ${op.namespace}/${op.name ?? '*'}`;
}

/**
 * The one-line error for a refusal by the API server at `server`: final ({@link InvalidTargetRequest}) for what a
 * person must fix, {@link KubeConflict} for a 409, a plain Error (retried) for what may pass.
 */
export function translateApiError(code: number, body: unknown, op: KubeOperation, server: string): Error {
  const status = statusOf(body);
  const said = status.message ? `: ${status.message}` : '';
  const what = describeObject(op);
  switch (code) {
    case 401:
      return new InvalidTargetRequest(
        `the Kubernetes API server at ${server} refused the credentials (401 Unauthorized) to ${op.verb} ${what}: ` +
          'check the kubeconfig user or the service account token',
      );
    case 403:
      return new InvalidTargetRequest(forbidden(status, op));
    case 404: {
      const hint = op.setting ? `: check ${op.setting} in opsflow.yaml` : '';
      if (!op.name || status.details?.name === undefined) {
        // The collection itself is missing: an API the cluster does not serve (a CRD not installed), or no namespace.
        return new InvalidTargetRequest(
          `the cluster at ${server} has no ${op.resource} in namespace ${op.namespace}${said}${hint}`,
        );
      }
      return new InvalidTargetRequest(`${op.resource} ${op.namespace}/${op.name} not found${hint}`);
    }
    case 409:
      return new KubeConflict(
        status.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict',
        `${op.verb} ${what}: ${status.reason ?? 'Conflict'}${said}`,
      );
    case 400:
    case 422:
      return new InvalidTargetRequest(`the API server refused to ${op.verb} ${what} as invalid${said}`);
    default:
      return new Error(`the Kubernetes API server at ${server} answered ${code} to ${op.verb} ${what}${said}`);
  }
}

/**
 * Forbidden, as a person fixes it: who lacks which verb on which resource in which namespace. The API server's message
 * names the user ("User \"system:serviceaccount:ns:sa\" cannot patch resource ..."); the rest comes from the call.
 */
function forbidden(status: KubeStatus, op: KubeOperation): string {
  const user = /User "([^"]+)"/.exec(status.message ?? '')?.[1];
  const group = status.details?.group;
  const kind = status.details?.kind;
  const resource = kind ? (group ? `${kind}.${group}` : kind) : op.resource;
  const object = op.name ? ` (${op.name})` : '';
  return (
    `forbidden: ${user ?? 'the credentials'} cannot ${op.verb} ${resource} in namespace ${op.namespace}${object}: ` +
    `grant "${op.verb}" on ${resource} in a Role bound to it (see examples/kubernetes/rbac.yaml)`
  );
}

/** The error for a request that never got an answer, naming the address tried. */
export function translateNetworkError(err: Error, op: KubeOperation, server: string, timeoutMs: number): Error {
  const code = (err as { code?: unknown }).code;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') {
    return new KubeUnreachable(
      `the Kubernetes API server at ${server} did not answer ${op.verb} ${describeObject(op)} within ${timeoutMs} ms`,
    );
  }
  const reason = typeof code === 'string' ? code : err.message;
  return new KubeUnreachable(`cannot reach the Kubernetes API server at ${server}: ${reason}`);
}

/** Content types of the patches the target sends. */
export type PatchType = 'merge' | 'strategic';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** A backendRef of an HTTPRoute rule (Gateway API v1): the fields opsflow reads; the rest is kept as it is. */
export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [field: string]: unknown;
}

/** An HTTPRoute as opsflow reads and patches it. */
export interface HttpRoute {
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec: { rules?: { backendRefs?: BackendRef[]; [field: string]: unknown }[]; [field: string]: unknown };
}

const httpRouteSchema = z
  .object({
    metadata: z
      .object({
        name: z.string(),
        namespace: z.string(),
        resourceVersion: z.string().optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .passthrough(),
    spec: z
      .object({
        rules: z
          .array(
            z
              .object({
                backendRefs: z
                  .array(z.object({ name: z.string(), weight: z.number().optional() }).passthrough())
                  .optional(),
              })
              .passthrough(),
          )
          .optional(),
      })
      .passthrough(),
  })
  .passthrough();

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const GATEWAY_VERSION = 'v1';
export const HTTPROUTES = `httproutes.${GATEWAY_GROUP}`;

interface Apis {
  module: KubeModule;
  config: KubeConfig;
  server: string;
  apps: AppsV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  version: VersionApi;
}

/** Where the client reads its kubeconfig from: the setting, $KUBECONFIG, or ~/.kube/config (as kubectl does). */
function kubeconfigPath(setting: string | undefined, env: NodeJS.ProcessEnv): string {
  const chosen = setting ?? env['KUBECONFIG']?.split(path.delimiter).find((p) => p.length > 0);
  const file = chosen ?? path.join(os.homedir(), '.kube', 'config');
  return file.startsWith('~/') ? path.join(os.homedir(), file.slice(2)) : file;
}

/** How the client is built besides its cluster settings. */
export interface KubeClientOptions {
  /** How long one request may go unanswered (default 15 s). */
  requestTimeoutMs?: number;
  /** Where $KUBECONFIG and the in-cluster variables are read (default: the process's). */
  env?: NodeJS.ProcessEnv;
  /** What a relative kubeconfig path is relative to (default: the process's working directory). */
  baseDir?: string;
}

/** One cluster's API, with each call's failure translated (see the module's comment). */
export class KubeClient {
  private apis: Promise<Apis> | undefined;
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly options: KubeClientOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  }

  /** The API server's address, once the kubeconfig is read. */
  async server(): Promise<string> {
    return (await this.connect()).server;
  }

  /** The cluster's version, as `kubectl version` shows it (v1.37.2). */
  async serverVersion(): Promise<string> {
    const op: KubeOperation = { verb: 'get', resource: 'version', namespace: '-' };
    const info = await this.call(op, ({ version }, o) => version.getCode(o));
    return info.gitVersion;
  }

  async getDeployment(namespace: string, name: string, setting?: string): Promise<V1Deployment | null> {
    const op: KubeOperation = {
      verb: 'get',
      resource: 'deployments.apps',
      namespace,
      name,
      ...(setting && { setting }),
    };
    return this.orNull(op, ({ apps }, o) => apps.readNamespacedDeployment({ name, namespace }, o));
  }

  async createDeployment(namespace: string, body: V1Deployment): Promise<V1Deployment> {
    const op: KubeOperation = { verb: 'create', resource: 'deployments.apps', namespace, name: body.metadata?.name };
    return this.call(op, ({ apps }, o) => apps.createNamespacedDeployment({ namespace, body }, o));
  }

  /** Patches a Deployment; a patch that carries `metadata.resourceVersion` fails with {@link KubeConflict} if it moved. */
  async patchDeployment(namespace: string, name: string, body: object, type: PatchType): Promise<V1Deployment> {
    const op: KubeOperation = { verb: 'patch', resource: 'deployments.apps', namespace, name };
    return this.call(op, ({ apps }, o) => apps.patchNamespacedDeployment({ name, namespace, body }, o), type);
  }

  /** Deletes a Deployment (its ReplicaSets and pods are collected in the background); absent is done. */
  async deleteDeployment(namespace: string, name: string): Promise<void> {
    const op: KubeOperation = { verb: 'delete', resource: 'deployments.apps', namespace, name };
    await this.orNull(op, ({ apps }, o) =>
      apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Background' }, o),
    );
  }

  async listReplicaSets(namespace: string, labelSelector: string): Promise<V1ReplicaSet[]> {
    const op: KubeOperation = { verb: 'list', resource: 'replicasets.apps', namespace };
    return (await this.call(op, ({ apps }, o) => apps.listNamespacedReplicaSet({ namespace, labelSelector }, o))).items;
  }

  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    const op: KubeOperation = { verb: 'list', resource: 'pods', namespace };
    return (await this.call(op, ({ core }, o) => core.listNamespacedPod({ namespace, labelSelector }, o))).items;
  }

  async getService(namespace: string, name: string, setting?: string): Promise<V1Service | null> {
    const op: KubeOperation = { verb: 'get', resource: 'services', namespace, name, ...(setting && { setting }) };
    return this.orNull(op, ({ core }, o) => core.readNamespacedService({ name, namespace }, o));
  }

  async createService(namespace: string, body: V1Service): Promise<V1Service> {
    const op: KubeOperation = { verb: 'create', resource: 'services', namespace, name: body.metadata?.name };
    return this.call(op, ({ core }, o) => core.createNamespacedService({ namespace, body }, o));
  }

  async patchService(namespace: string, name: string, body: object): Promise<V1Service> {
    const op: KubeOperation = { verb: 'patch', resource: 'services', namespace, name };
    return this.call(op, ({ core }, o) => core.patchNamespacedService({ name, namespace, body }, o), 'merge');
  }

  async deleteService(namespace: string, name: string): Promise<void> {
    const op: KubeOperation = { verb: 'delete', resource: 'services', namespace, name };
    await this.orNull(op, ({ core }, o) => core.deleteNamespacedService({ name, namespace }, o));
  }

  async getHttpRoute(namespace: string, name: string, setting?: string): Promise<HttpRoute> {
    const op: KubeOperation = { verb: 'get', resource: HTTPROUTES, namespace, name, ...(setting && { setting }) };
    const body = await this.call(op, ({ custom }, o) =>
      custom.getNamespacedCustomObject(
        { group: GATEWAY_GROUP, version: GATEWAY_VERSION, namespace, plural: 'httproutes', name },
        o,
      ),
    );
    return parseRoute(body, op);
  }

  /** A merge patch of an HTTPRoute; with `metadata.resourceVersion` in it, {@link KubeConflict} if the route moved. */
  async patchHttpRoute(namespace: string, name: string, body: object): Promise<HttpRoute> {
    const op: KubeOperation = { verb: 'patch', resource: HTTPROUTES, namespace, name };
    const patched = await this.call(
      op,
      ({ custom }, o) =>
        custom.patchNamespacedCustomObject(
          { group: GATEWAY_GROUP, version: GATEWAY_VERSION, namespace, plural: 'httproutes', name, body },
          o,
        ),
      'merge',
    );
    return parseRoute(patched, op);
  }

  /** The call's result, or null when the object is not there (404 on a named object). */
  private async orNull<T>(
    op: KubeOperation,
    fn: (apis: Apis, options: object) => Promise<T>,
    patch?: PatchType,
  ): Promise<T | null> {
    try {
      return await this.call(op, fn, patch, true);
    } catch (err) {
      if (err instanceof NotThere) return null;
      throw err;
    }
  }

  /** One request: a timeout, the patch's content type, and the failure translated. */
  private async call<T>(
    op: KubeOperation,
    fn: (apis: Apis, options: object) => Promise<T>,
    patch?: PatchType,
    absentIsNull = false,
  ): Promise<T> {
    const apis = await this.connect();
    const timeoutMs = this.requestTimeoutMs;
    // The object-parameter API runs observable middleware: each step answers the client's own Observable.
    const { Observable } = apis.module;
    const options = {
      middleware: [
        {
          pre: (context: RequestContext) => {
            context.setSignal(AbortSignal.timeout(timeoutMs));
            if (patch) context.setHeaderParam('Content-Type', PATCH_CONTENT_TYPE[patch]);
            return new Observable(Promise.resolve(context));
          },
          post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
        },
      ],
      middlewareMergeStrategy: 'append',
    };
    try {
      return await fn(apis, options);
    } catch (err) {
      if (isApiException(err)) {
        const status = statusOf(err.body);
        if (absentIsNull && err.code === 404 && status.details?.name !== undefined) throw new NotThere();
        throw translateApiError(err.code, err.body, op, apis.server);
      }
      if (err instanceof Error) throw translateNetworkError(err, op, apis.server, timeoutMs);
      throw err;
    }
  }

  /** Reads the kubeconfig (or the pod's service account) once; a failure is not kept, so a fixed file is read again. */
  private connect(): Promise<Apis> {
    this.apis ??= this.load().catch((err: unknown) => {
      this.apis = undefined;
      throw err;
    });
    return this.apis;
  }

  private async load(): Promise<Apis> {
    const k8s = await loadKubeModule();
    const config = new k8s.KubeConfig();
    const env = this.options.env ?? process.env;
    if (this.cluster.inCluster) {
      if (!env['KUBERNETES_SERVICE_HOST'] || !env['KUBERNETES_SERVICE_PORT']) {
        throw new InvalidTargetRequest(
          'cluster.inCluster is set but KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not: ' +
            'the worker does not run in a pod; name a kubeconfig instead',
        );
      }
      config.loadFromCluster();
    } else {
      const file = path.resolve(this.options.baseDir ?? process.cwd(), kubeconfigPath(this.cluster.kubeconfig, env));
      if (!existsSync(file)) {
        throw new InvalidTargetRequest(`cannot read the kubeconfig ${file}: no such file (set cluster.kubeconfig)`);
      }
      try {
        config.loadFromFile(file);
      } catch (err) {
        throw new InvalidTargetRequest(`cannot read the kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`);
      }
      const { context } = this.cluster;
      if (context !== undefined) {
        if (!config.getContextObject(context)) {
          const known = config.getContexts().map((c) => c.name);
          throw new InvalidTargetRequest(
            `the kubeconfig ${file} has no context "${context}": it has ${known.join(', ') || 'none'}`,
          );
        }
        config.setCurrentContext(context);
      }
      if (!config.getCurrentCluster()) {
        throw new InvalidTargetRequest(`the kubeconfig ${file} has no current context: set cluster.context`);
      }
    }
    const server = config.getCurrentCluster()?.server ?? '(no server)';
    return {
      module: k8s,
      config,
      server,
      apps: config.makeApiClient(k8s.AppsV1Api),
      core: config.makeApiClient(k8s.CoreV1Api),
      custom: config.makeApiClient(k8s.CustomObjectsApi),
      version: config.makeApiClient(k8s.VersionApi),
    };
  }
}

/** A named object that is not there, for {@link KubeClient}'s reads that answer null. */
class NotThere extends Error {}

function parseRoute(body: unknown, op: KubeOperation): HttpRoute {
  const parsed = httpRouteSchema.safeParse(body);
  if (!parsed.success) {
    throw new InvalidTargetRequest(
      `${describeObject(op)} is not an HTTPRoute opsflow can read: ${parsed.error.message}`,
    );
  }
  return parsed.data as HttpRoute;
}

/** `k=v,k2=v2`: a label selector for list calls. */
export function selectorString(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}
