import { z } from 'zod';
import { durationBetween } from '../../../shared/analysis-config';
import { nameSchema } from '../../../shared/validation';

/** `{{ name }}` in the image template. */
export const IMAGE_PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** What opsflow appends to the stable Deployment's and Service's names for the new release's objects. */
export const CANARY_SUFFIX = '-canary';

/** A DNS-1123 label (namespaces, Deployments, containers), short enough to take {@link CANARY_SUFFIX}. */
function labelName(what: string, max = 63) {
  return z
    .string()
    .max(max, `${what} must be at most ${max} characters${max < 63 ? ` (opsflow adds "${CANARY_SUFFIX}")` : ''}`)
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
      `${what} must be lower-case letters, digits and "-", as Kubernetes names`,
    );
}

/** A Service name (DNS-1035: starts with a letter), short enough to take {@link CANARY_SUFFIX}. */
const serviceName = (what: string) =>
  labelName(what, 63 - CANARY_SUFFIX.length).regex(/^[a-z]/, `${what} must start with a letter, as Service names`);

/**
 * Which cluster and credentials: a kubeconfig file (default: $KUBECONFIG, else ~/.kube/config) and a context in it
 * (default: its current context), or the service account of the pod the worker runs in (`inCluster: true`).
 */
export const clusterConfigSchema = z
  .object({
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    inCluster: z.boolean().default(false),
  })
  .strict()
  .refine((c) => !(c.inCluster && (c.kubeconfig !== undefined || c.context !== undefined)), {
    message: "inCluster uses the worker pod's service account: leave kubeconfig and context out",
  });
export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

/** The HTTPRoute whose backendRefs opsflow weighs; a bare string is its name. */
const httpRouteSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { name: value } : value),
  z
    .object({
      name: z
        .string()
        .min(1)
        .max(253)
        .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'httpRoute.name must be a Kubernetes name'),
      /** Where the route lives, when not in the environment's namespace (a shared gateway namespace). */
      namespace: labelName('httpRoute.namespace').optional(),
    })
    .strict(),
);

/** The two Services of a blue-green switch: `activeService` takes the users' traffic, `previewService` shows green. */
const blueGreenSchema = z
  .object({ activeService: serviceName('activeService'), previewService: serviceName('previewService') })
  .strict()
  .refine((b) => b.activeService !== b.previewService, {
    message: 'activeService and previewService must be two Services',
    path: ['previewService'],
  });

/** One environment of the service: where its stable workload runs and how traffic reaches the new release. */
export const kubernetesEnvironmentSchema = z
  .object({
    namespace: labelName('namespace'),
    /** The stable workload: opsflow clones it as `<deployment>-canary` and, on promotion, sets its image. */
    deployment: labelName('deployment', 63 - CANARY_SUFFIX.length),
    /** The container whose image is the release; may be left out when the pods have one container. */
    container: labelName('container').optional(),
    /** The Service that selects the stable pods (default: the Deployment's name); cloned as `<service>-canary`. */
    service: serviceName('service').optional(),
    /** An HTTPRoute (Gateway API) routing to `service`: the canary's share is set exactly by backendRef weights. */
    httpRoute: httpRouteSchema.optional(),
    /** Blue-green: green behind `previewService`; the switch points `activeService`'s selector at green. */
    blueGreen: blueGreenSchema.optional(),
    /** This environment's cluster, when it is not the target's (staging and production in two clusters). */
    cluster: clusterConfigSchema.optional(),
  })
  .strict()
  .refine((e) => !(e.httpRoute && e.blueGreen), {
    message: 'httpRoute and blueGreen are two ways to move traffic: set one of them',
    path: ['blueGreen'],
  });
export type KubernetesEnvironmentConfig = z.infer<typeof kubernetesEnvironmentSchema>;

/** The image template: `{{version}}` exactly once, no other placeholder, no whitespace. */
const imageTemplateSchema = z
  .string()
  .min(1)
  .regex(/^\S+$/, 'image must not contain whitespace')
  .superRefine((template, ctx) => {
    const names = [...template.matchAll(IMAGE_PLACEHOLDER)].map((m) => m[1] ?? '');
    const unknown = names.find((name) => name !== 'version');
    if (unknown !== undefined) {
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${unknown}}} in image: use {{version}}` });
    } else if (names.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'image must contain {{version}} once, e.g. registry.example/hello:{{version}}',
      });
    }
  });

/**
 * `target: { kind: kubernetes, ... }`: the service runs as a Deployment per environment. A new release runs beside it
 * as `<deployment>-canary`; its share of traffic is set exactly through an HTTPRoute's backendRef weights, by replica
 * counts when there is no route (approximate), or all at once by a Service selector (blue-green). Promotion sets the
 * stable Deployment's image and waits for its rollout as `kubectl rollout status` does. See docs/kubernetes-target.md.
 */
export const kubernetesTargetConfigSchema = z
  .object({
    kind: z.literal('kubernetes'),
    cluster: clusterConfigSchema.default({ inCluster: false }),
    /** The release's image, e.g. `registry.example/hello:{{version}}`; the running version is read back from it. */
    image: imageTemplateSchema,
    /** How long a rollout (the canary's, or the stable Deployment's on promotion) may take to become available. */
    progressDeadline: durationBetween(1_000, 3_600_000).default(300_000),
    environments: z
      .record(nameSchema, kubernetesEnvironmentSchema)
      .refine((e) => Object.keys(e).length > 0, 'list at least one environment: namespace, deployment'),
  })
  .strict();
export type KubernetesTargetConfig = z.infer<typeof kubernetesTargetConfigSchema>;
