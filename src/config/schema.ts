import { z } from 'zod';
import { agentConfigSchema, DEFAULT_AGENT_CONFIG } from './agent';
import {
  analysisConfigSchema,
  canaryStepsSchema,
  DEFAULT_CANARY_STEPS,
  boundedDuration,
  durationBetween,
  promqlTemplateSchema,
} from '../shared/analysis-config';
import { ENVIRONMENT_DEFAULTS } from '../shared/deploy/input';
import { maxBakeMs } from '../shared/analysis/judge';
import { formatDuration } from '../shared/duration';
import { nameSchema } from '../shared/validation';
import { httpUrlSchema } from '../shared/markdown';
import { localTargetConfigSchema } from '../activities/targets/local/config';
import { commandTargetConfigSchema } from '../activities/targets/command/config';
import { kubernetesTargetConfigSchema } from '../activities/targets/kubernetes/config';
import { vercelTargetConfigSchema } from '../activities/targets/vercel/config';
import { nginxLogConfigSchema } from '../activities/metrics/nginx-log';
import { securityConfigSchema } from '../activities/security/config';
import { costConfigSchema } from '../activities/cost/config';
import { DEFAULT_LLM_CONFIG, llmConfigSchema } from './llm';
import { notificationsConfigSchema } from './notifications';
import { policyConfigSchema } from './policy';

const bounded = boundedDuration;

const approvalSchema = z
  .object({
    required: z.boolean().default(false),
    approvers: z.array(nameSchema).default([]),
    /** May the person who requested a deploy approve it? */
    allowSelfApproval: z.boolean().default(false),
    timeout: bounded('timeout').default(ENVIRONMENT_DEFAULTS.approvalTimeoutMs),
  })
  .strict()
  .refine((a) => !a.required || a.approvers.length > 0, {
    message: 'approval is required but no approvers are listed',
    path: ['approvers'],
  });

/**
 * A warm-up as long as a step's max bake leaves nothing to judge: every such step would end inconclusive. The bakes
 * that start with a warm-up are the canary's steps, a direct deploy's verification and blue-green's verification.
 */
function warmUpProblem(env: z.output<typeof environmentConfigSchema>): string | undefined {
  const duration = env.analysis.warmUp?.duration;
  if (duration === undefined || duration === 0) return undefined;
  const bakes =
    env.strategy === 'canary'
      ? env.canary.steps.map((s) => s.bake)
      : [env.strategy === 'direct' ? env.verify.duration : env.blueGreen.verify];
  const shortest = Math.min(...bakes);
  const longest = maxBakeMs(env.analysis, shortest);
  if (duration < longest) return undefined;
  return (
    `${formatDuration(duration)} leaves nothing to judge: a step of ${formatDuration(shortest)} waits at most ` +
    `${formatDuration(longest)} for its requests (maxBakeFactor ${env.analysis.maxBakeFactor}); make it shorter`
  );
}

export const environmentConfigSchema = z
  .object({
    /**
     * direct: replace the running version and verify; canary: shift traffic in steps with analysis; blue-green: start
     * green beside blue, switch all traffic, verify, keep blue warm for an instant switch back, then retire it.
     */
    strategy: z.enum(['direct', 'canary', 'blue-green']).default('direct'),
    approval: approvalSchema.default({
      required: false,
      approvers: [],
      allowSelfApproval: false,
      timeout: ENVIRONMENT_DEFAULTS.approvalTimeoutMs,
    }),
    canary: z
      .object({ steps: canaryStepsSchema.default(DEFAULT_CANARY_STEPS) })
      .strict()
      .default({ steps: DEFAULT_CANARY_STEPS }),
    /** How long a direct deploy is watched before it counts as verified. */
    verify: z
      .object({ duration: bounded('verify').default(ENVIRONMENT_DEFAULTS.verifyMs) })
      .strict()
      .default({ duration: ENVIRONMENT_DEFAULTS.verifyMs }),
    analysis: analysisConfigSchema.default(analysisConfigSchema.parse({})),
    blueGreen: z
      .object({
        /** Analysis after the switch; a failure switches back to blue at once. */
        verify: bounded('verify').default(ENVIRONMENT_DEFAULTS.blueGreen.verifyMs),
        /** How long blue stays warm after a verified switch, so a switch back is instant; analysis goes on. */
        keepBlue: bounded('verify').default(ENVIRONMENT_DEFAULTS.blueGreen.keepBlueMs),
      })
      .strict()
      .default({
        verify: ENVIRONMENT_DEFAULTS.blueGreen.verifyMs,
        keepBlue: ENVIRONMENT_DEFAULTS.blueGreen.keepBlueMs,
      }),
    /** A paused deploy (by a person, or on inconclusive data) rolls back when nobody decides within this. */
    pauseTimeout: bounded('timeout').default(ENVIRONMENT_DEFAULTS.pauseTimeoutMs),
  })
  .strict();

/**
 * Where a service runs, a discriminated union on `kind`: one member per target kind, each defined in its own folder
 * under src/activities/targets/. A kind whose config lists `versions` knows its releases from the config.
 */
const TARGET_KINDS = [
  localTargetConfigSchema,
  commandTargetConfigSchema,
  kubernetesTargetConfigSchema,
  vercelTargetConfigSchema,
] as const;

export const targetConfigSchema = z.discriminatedUnion('kind', TARGET_KINDS, {
  error: (issue) => {
    if (issue.input === undefined) {
      return "missing: name the service's deploy target, e.g. target: { kind: local, command, versions, initialVersion }";
    }
    if (issue.code !== 'invalid_union') return undefined;
    const kind = (issue.input as { kind?: unknown } | null)?.kind;
    const kinds = TARGET_KINDS.map((k) => k.shape.kind.value).join(', ');
    return `${kind === undefined ? 'missing' : `unknown kind ${JSON.stringify(kind)}`}: use one of ${kinds}`;
  },
});
export type TargetConfig = z.infer<typeof targetConfigSchema>;
export type TargetKind = TargetConfig['kind'];

/** The keys a service had before targets were a union: `platform: local` and the local target's settings. */
const FLAT_TARGET_KEYS = ['platform', 'command', 'versions', 'initialVersion', 'healthPath'];

/**
 * Reads a service written in the earlier flat form (`platform: local`, `command`, ... directly under the service) as
 * `target: { kind: local, ... }`; anything else is left as written, for the schema to judge.
 */
function flatServiceAsTarget(service: unknown): unknown {
  if (typeof service !== 'object' || service === null || Array.isArray(service) || 'target' in service) return service;
  const entries = Object.entries(service);
  if (!entries.some(([key]) => FLAT_TARGET_KEYS.includes(key))) return service;
  const target: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (key === 'platform') target['kind'] = value;
    else if (FLAT_TARGET_KEYS.includes(key)) target[key] = value;
    else rest[key] = value;
  }
  return { ...rest, target: { kind: 'local', ...target } };
}

export const serviceConfigSchema = z.preprocess(
  flatServiceAsTarget,
  z
    .object({
      /** Where the service runs and how traffic is split: `target.kind` picks the implementation. */
      target: targetConfigSchema,
    })
    .strict(),
);

/**
 * The releases a service's target config lists, when its kind knows them from the config (`versions`): a deploy
 * request for another version is refused at once. `undefined`: the target is asked when the deploy is planned.
 */
export function configuredReleases(target: TargetConfig): readonly string[] | undefined {
  return 'versions' in target ? target.versions : undefined;
}

export const localPlatformConfigSchema = z
  .object({
    host: z.literal('127.0.0.1').or(z.literal('localhost')).or(z.literal('::1')).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(7070),
    /** Synthetic requests per second sent through each environment's router. */
    trafficRps: z.number().min(0).max(2_000).default(50),
    /** The control API's bearer token file, relative to where the platform and worker run; .opsflow/platform/token. */
    tokenFile: z.string().min(1).optional(),
  })
  .strict();

/** PromQL templates: {{service}}, {{version}}, {{environment}} and {{window}} (e.g. 30s) are filled in. */
export const prometheusQueriesSchema = z
  .object({
    requests: promqlTemplateSchema,
    errors: promqlTemplateSchema,
    latencyP95Ms: promqlTemplateSchema,
    latencyP99Ms: promqlTemplateSchema,
  })
  .strict();

/** The default queries read the local platform router's metrics (opsflow_requests_total, ..._duration_seconds). */
export const DEFAULT_PROMETHEUS_QUERIES: z.infer<typeof prometheusQueriesSchema> = {
  requests:
    'sum(increase(opsflow_requests_total{environment="{{environment}}",service="{{service}}",version="{{version}}"}[{{window}}]))',
  errors:
    'sum(increase(opsflow_requests_total{environment="{{environment}}",service="{{service}}",version="{{version}}",code=~"5.."}[{{window}}]))',
  latencyP95Ms:
    '1000 * histogram_quantile(0.95, sum by (le) (rate(opsflow_request_duration_seconds_bucket{environment="{{environment}}",service="{{service}}",version="{{version}}"}[{{window}}])))',
  latencyP99Ms:
    '1000 * histogram_quantile(0.99, sum by (le) (rate(opsflow_request_duration_seconds_bucket{environment="{{environment}}",service="{{service}}",version="{{version}}"}[{{window}}])))',
};

/** Where the `prometheus` metrics provider reads from. */
export const prometheusConfigSchema = z
  .object({
    url: z.string().url(),
    queries: prometheusQueriesSchema.default(DEFAULT_PROMETHEUS_QUERIES),
    /** The shortest range a query asks for: rate() needs at least two scrapes inside it. */
    minWindow: durationBetween(1_000, 3_600_000).default(2_000),
    timeout: durationBetween(100, 300_000).default(5_000),
  })
  .strict();
export type PrometheusConfig = z.infer<typeof prometheusConfigSchema>;

/** The metrics settings each provider other than the local platform needs, checked when an environment names it. */
const PROVIDER_SETTINGS: Partial<
  Record<string, { setting: string; present(metrics: { prometheus?: unknown; nginxLog?: unknown }): boolean }>
> = {
  prometheus: { setting: 'metrics.prometheus.url', present: (m) => m.prometheus !== undefined },
  'nginx-log': { setting: 'metrics.nginxLog.path', present: (m) => m.nginxLog !== undefined },
};

export const configSchema = z
  .object({
    project: nameSchema,
    temporal: z
      .object({
        taskQueue: z.string().min(1).default('opsflow'),
        /**
         * The Temporal UI that links point to. Unset: the dev server's UI when Temporal's address is a loopback one
         * (localhost:7233 → http://localhost:8233), else no link (see temporalUiUrl).
         */
        uiUrl: httpUrlSchema.optional(),
      })
      .strict()
      .default({ taskQueue: 'opsflow' }),
    platform: z
      .object({ local: localPlatformConfigSchema.default(localPlatformConfigSchema.parse({})) })
      .strict()
      .default({ local: localPlatformConfigSchema.parse({}) }),
    /** Metric providers other than the local platform's own figures. */
    metrics: z
      .object({ prometheus: prometheusConfigSchema.optional(), nginxLog: nginxLogConfigSchema.optional() })
      .strict()
      .default({}),
    /**
     * The worker's cost source: what a version costs to serve, compared per 1,000 requests in the canary and read by
     * the daily review. Unset: cost is not measured, and deploys say so.
     */
    cost: costConfigSchema.optional(),
    services: z
      .record(nameSchema, serviceConfigSchema)
      .refine((s) => Object.keys(s).length > 0, 'list at least one service'),
    /** Environments in the order a change goes through them. */
    pipeline: z.array(nameSchema).min(1).default(['staging', 'production']),
    environments: z.record(nameSchema, environmentConfigSchema),
    /** The long-lived ops agent: idle timeout, daily review time, targets. */
    agent: agentConfigSchema.default(DEFAULT_AGENT_CONFIG),
    /** The LLM that plans and narrates; offline (no network) unless configured. Never a key. */
    llm: llmConfigSchema.default(DEFAULT_LLM_CONFIG),
    /** The worker's approval policy: people and their public keys, protected environments, N of M, controls. */
    policy: policyConfigSchema.optional(),
    /** The worker's notification channels, routes and escalation (read by the worker only, never sent with a request). */
    notifications: notificationsConfigSchema.optional(),
    /** The vulnerability scan the worker runs for each daily self-review (read by the worker only). */
    security: securityConfigSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    config.pipeline.forEach((env, i) => {
      if (!config.environments[env]) {
        ctx.addIssue({
          code: 'custom',
          path: ['pipeline', i],
          message: `environment "${env}" is not defined under environments`,
        });
      }
    });
    for (const [name, env] of Object.entries(config.environments)) {
      const missing = PROVIDER_SETTINGS[env.analysis.provider];
      if (missing && !missing.present(config.metrics)) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, 'analysis', 'provider'],
          message: `provider is ${env.analysis.provider} but ${missing.setting} is not set`,
        });
      }
    }
    for (const [name, env] of Object.entries(config.environments)) {
      const problem = warmUpProblem(env);
      if (problem) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, 'analysis', 'warmUp', 'duration'],
          message: problem,
        });
      }
    }
    // A target entry for an environment the config does not define would have no approval rule of its own.
    for (const [service, { target }] of Object.entries(config.services)) {
      const targetEnvironments = 'environments' in target ? Object.keys(target.environments) : [];
      for (const name of targetEnvironments.filter((env) => !Object.hasOwn(config.environments, env))) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', service, 'target', 'environments', name],
          message: `environment "${name}" is not defined under environments (${Object.keys(config.environments).join(', ')}): define it there, with its approval, or remove this entry`,
        });
      }
    }
    for (const service of Object.keys(config.security?.services ?? {})) {
      if (!Object.hasOwn(config.services, service)) {
        ctx.addIssue({
          code: 'custom',
          path: ['security', 'services', service],
          message: `service "${service}" is not defined under services (${Object.keys(config.services).join(', ')})`,
        });
      }
    }
    const { cost } = config;
    const readsPrometheus =
      cost?.kind === 'opencost' ||
      (cost?.kind === 'usage' && cost.from === 'prometheus') ||
      (cost?.kind === 'price-sheet' && cost.items.some((item) => item.query));
    if (cost && readsPrometheus && !cost.prometheus && !config.metrics.prometheus) {
      ctx.addIssue({
        code: 'custom',
        path: ['cost', 'prometheus'],
        message: `the ${cost.kind} cost source reads Prometheus: set cost.prometheus.url (or metrics.prometheus.url)`,
      });
    }
    const production = config.environments['production'];
    if (production && !production.approval.required) {
      ctx.addIssue({
        code: 'custom',
        path: ['environments', 'production', 'approval', 'required'],
        message: 'production deploys need a manual approval: set required: true',
      });
    }
  });

export type OpsflowConfig = z.infer<typeof configSchema>;
export type EnvironmentConfig = z.infer<typeof environmentConfigSchema>;
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;
export type { LocalTargetConfig } from '../activities/targets/local/config';
