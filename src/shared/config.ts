import { z } from 'zod';
import { agentConfigSchema, DEFAULT_AGENT_CONFIG } from './agent-config';
import { durationSchema } from './duration';
import { DEFAULT_LLM_CONFIG, llmConfigSchema } from './llm-config';

/** A semantic version such as 1.2.0 or 2.0.0-rc.1. */
export const versionSchema = z
  .string()
  .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, 'must be a semantic version such as 1.2.0');

/** Names used in ids and paths: services, environments, projects, people. */
export const nameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/i,
    'must be letters, digits, ".", "_" or "-" (at most 63), starting with a letter or digit',
  );

const thresholdSchema = (unit: 'ratio' | 'duration') =>
  z
    .object({
      warn: unit === 'ratio' ? z.number().min(0).max(1) : durationSchema,
      critical: unit === 'ratio' ? z.number().min(0).max(1) : durationSchema,
    })
    .strict()
    .refine((t) => t.warn <= t.critical, { message: 'warn must not be above critical' });

/** The placeholders a PromQL template may use; the provider fills them per version. */
export const QUERY_PLACEHOLDERS = ['service', 'version', 'environment', 'window'] as const;

/** A PromQL template whose placeholders are all known, so a typo is refused when the config loads. */
const promqlTemplateSchema = z
  .string()
  .min(1)
  .superRefine((template, ctx) => {
    for (const [whole, name] of template.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)) {
      if (!(QUERY_PLACEHOLDERS as readonly string[]).includes(name ?? '')) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown placeholder ${whole}: use ${QUERY_PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`,
        });
      }
    }
  });

/** A metric of the user's own, read from Prometheus with a PromQL template, judged against its thresholds. */
const customMetricSchema = z
  .object({
    name: nameSchema,
    /** PromQL; {{service}}, {{version}}, {{environment}} and {{window}} are filled in per version. */
    query: promqlTemplateSchema,
    warn: z.number(),
    critical: z.number(),
    /** above: higher is worse (saturation, queue depth); below: lower is worse (success ratio, throughput). */
    direction: z.enum(['above', 'below']).default('above'),
  })
  .strict()
  .refine((m) => (m.direction === 'above' ? m.warn <= m.critical : m.warn >= m.critical), {
    message: 'warn must come before critical: below critical when direction is above, above it when below',
  });

/** The canary against stable over the same window: tolerances before the canary counts as failing. */
const compareSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** The canary's error rate may exceed stable's by this much (0.01 = 1 point), if the difference is significant. */
    errorRateIncrease: z.number().min(0).max(1).default(0.01),
    /** The canary's p95 may be this many times stable's ... */
    latencyRatio: z.number().min(1).default(1.5),
    /** ... or this much slower, whichever allows more (so a 3 ms → 6 ms change on a fast service is no failure). */
    latencyIncrease: durationSchema.default(100),
  })
  .strict();

/** Health analysis settings; the defaults are the spec's thresholds. */
export const analysisConfigSchema = z
  .object({
    /** Where samples come from: the local platform's recorded figures, or Prometheus (metrics.prometheus). */
    provider: z.enum(['local', 'prometheus']).default('local'),
    /** Time between two samples during a bake. */
    interval: durationSchema.default(30_000),
    /** Fewer requests than this in a sample make it inconclusive, never a success. */
    minRequests: z.number().int().min(1).default(50),
    /** Consecutive failing or unmeasurable samples before rolling back (a critical sample rolls back at once). */
    failureLimit: z.number().int().min(1).default(3),
    /** Consecutive inconclusive samples after which the canary pauses for a person. */
    inconclusiveLimit: z.number().int().min(1).default(10),
    errorRate: thresholdSchema('ratio').default({ warn: 0.01, critical: 0.05 }),
    latencyP95: thresholdSchema('duration').default({ warn: 2_000, critical: 5_000 }),
    /** Optional: p99 latency thresholds. */
    latencyP99: thresholdSchema('duration').optional(),
    /** Optional: metrics of your own, from Prometheus. */
    custom: z.array(customMetricSchema).default([]),
    compare: compareSchema.default(compareSchema.parse({})),
  })
  .strict()
  .refine((a) => a.custom.length === 0 || a.provider === 'prometheus', {
    message: 'custom metrics are PromQL: set provider: prometheus',
    path: ['custom'],
  });

const canaryStepSchema = z.object({ weight: z.number().int().min(1).max(100), bake: durationSchema }).strict();

/** Canary steps: 10 → 25 → 50 → 100 % over 30 minutes unless configured. */
export const DEFAULT_CANARY_STEPS = [
  { weight: 10, bake: 450_000 },
  { weight: 25, bake: 450_000 },
  { weight: 50, bake: 450_000 },
  { weight: 100, bake: 450_000 },
];

export const canaryStepsSchema = z
  .array(canaryStepSchema)
  .min(1, 'needs at least one step')
  .superRefine((steps, ctx) => {
    steps.forEach((step, i) => {
      const previous = steps[i - 1];
      if (previous && step.weight <= previous.weight) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'weight'],
          message: `weights must increase: ${previous.weight} then ${step.weight}`,
        });
      }
    });
  });

const approvalSchema = z
  .object({
    required: z.boolean().default(false),
    approvers: z.array(nameSchema).default([]),
    /** May the person who requested a deploy approve it? */
    allowSelfApproval: z.boolean().default(false),
    timeout: durationSchema.default(86_400_000),
  })
  .strict()
  .refine((a) => !a.required || a.approvers.length > 0, {
    message: 'approval is required but no approvers are listed',
    path: ['approvers'],
  });

export const environmentConfigSchema = z
  .object({
    /**
     * direct: replace the running version and verify; canary: shift traffic in steps with analysis; blue-green: start
     * green beside blue, switch all traffic, verify, keep blue warm for an instant switch back, then retire it.
     */
    strategy: z.enum(['direct', 'canary', 'blue-green']).default('direct'),
    approval: approvalSchema.default({ required: false, approvers: [], allowSelfApproval: false, timeout: 86_400_000 }),
    canary: z
      .object({ steps: canaryStepsSchema.default(DEFAULT_CANARY_STEPS) })
      .strict()
      .default({ steps: DEFAULT_CANARY_STEPS }),
    /** How long a direct deploy is watched before it counts as verified. */
    verify: z
      .object({ duration: durationSchema.default(30_000) })
      .strict()
      .default({ duration: 30_000 }),
    analysis: analysisConfigSchema.default(analysisConfigSchema.parse({})),
    blueGreen: z
      .object({
        /** Analysis after the switch; a failure switches back to blue at once. */
        verify: durationSchema.default(300_000),
        /** How long blue stays warm after a verified switch, so a switch back is instant; analysis goes on. */
        keepBlue: durationSchema.default(600_000),
      })
      .strict()
      .default({ verify: 300_000, keepBlue: 600_000 }),
    /** A paused deploy (by a person, or on inconclusive data) rolls back when nobody decides within this. */
    pauseTimeout: durationSchema.default(3_600_000),
  })
  .strict();

export const serviceConfigSchema = z
  .object({
    platform: z.literal('local').default('local'),
    /** The command that runs one instance; it gets PORT, VERSION, SERVICE and ENVIRONMENT. */
    command: z.array(z.string().min(1)).min(1),
    /** Releases the local artifact store holds. */
    versions: z.array(versionSchema).min(1),
    /** The version live everywhere when the local platform starts. */
    initialVersion: versionSchema,
    healthPath: z.string().startsWith('/').default('/healthz'),
  })
  .strict()
  .refine((s) => s.versions.includes(s.initialVersion), {
    message: 'initialVersion must be one of versions',
    path: ['initialVersion'],
  });

export const localPlatformConfigSchema = z
  .object({
    host: z.literal('127.0.0.1').or(z.literal('localhost')).or(z.literal('::1')).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(7070),
    /** Synthetic requests per second sent through each environment's router. */
    trafficRps: z.number().min(0).max(2_000).default(50),
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
    minWindow: durationSchema.default(2_000),
    timeout: durationSchema.default(5_000),
  })
  .strict();
export type PrometheusConfig = z.infer<typeof prometheusConfigSchema>;

export const configSchema = z
  .object({
    project: nameSchema,
    temporal: z
      .object({
        taskQueue: z.string().min(1).default('opsflow'),
        uiUrl: z.string().url().default('http://localhost:8233'),
      })
      .strict()
      .default({ taskQueue: 'opsflow', uiUrl: 'http://localhost:8233' }),
    platform: z
      .object({ local: localPlatformConfigSchema.default(localPlatformConfigSchema.parse({})) })
      .strict()
      .default({ local: localPlatformConfigSchema.parse({}) }),
    /** Metric providers other than the local platform's own figures. */
    metrics: z.object({ prometheus: prometheusConfigSchema.optional() }).strict().default({}),
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
      if (env.analysis.provider === 'prometheus' && !config.metrics.prometheus) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, 'analysis', 'provider'],
          message: 'provider is prometheus but metrics.prometheus.url is not set',
        });
      }
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
export type AnalysisConfig = z.infer<typeof analysisConfigSchema>;
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;
export type CanaryStep = z.infer<typeof canaryStepSchema>;

/** One line naming the first problem: "environments.production.canary.steps.1.weight: weights must increase". */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
