import { z } from 'zod';
import { durationSchema, formatDuration } from './duration';
import { nameSchema } from './validation';

/** A duration (string or milliseconds) between `minMs` and `maxMs`, refused with one line naming the bound. */
export function durationBetween(minMs: number, maxMs: number) {
  return durationSchema
    .refine((ms) => ms >= minMs, `must be at least ${formatDuration(minMs)}`)
    .refine((ms) => ms <= maxMs, `must be at most ${formatDuration(maxMs)}`);
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Bounds of every duration setting: an interval of 0 would be 1 ms timers; a bake of a year is a typo. */
export const DURATION_BOUNDS = {
  interval: [SECOND, HOUR],
  latency: [0, 10 * MINUTE],
  bake: [0, 7 * DAY],
  verify: [0, 7 * DAY],
  timeout: [MINUTE, 30 * DAY],
  warmUp: [0, HOUR],
} as const satisfies Record<string, readonly [number, number]>;

/** A duration setting of the kind `name`, within its {@link DURATION_BOUNDS}. */
export function boundedDuration(name: keyof typeof DURATION_BOUNDS) {
  const [minMs, maxMs] = DURATION_BOUNDS[name];
  return durationBetween(minMs, maxMs);
}

const bounded = boundedDuration;

const thresholdSchema = (unit: 'ratio' | 'duration') =>
  z
    .object({
      warn: unit === 'ratio' ? z.number().min(0).max(1) : bounded('latency'),
      critical: unit === 'ratio' ? z.number().min(0).max(1) : bounded('latency'),
    })
    .strict()
    .refine((t) => t.warn <= t.critical, { message: 'warn must not be above critical' });

/**
 * The placeholders a PromQL template may use; the provider fills them per version. `namespace` and `workload` (the
 * Deployment that runs the version) come from a kubernetes target.
 */
export const QUERY_PLACEHOLDERS = ['service', 'version', 'environment', 'window', 'namespace', 'workload'] as const;

/** A PromQL template whose placeholders are all known, so a typo is refused when the config loads. */
export const promqlTemplateSchema = z
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
    latencyIncrease: bounded('latency').default(100),
  })
  .strict();

/** Defaults of the failure budgets; see {@link analysisConfigSchema} for why these numbers. */
export const FAILURE_BUDGET_DEFAULTS = { failureLimit: 5, consecutiveFailureLimit: 3 } as const;

/**
 * Defaults of the measurement-error limit: 4 in a row, Argo Rollouts' `consecutiveErrorLimit`. At the default 30 s
 * interval that is two minutes of a provider or platform that cannot be read, longer than an ordinary restart (about
 * 3 s here) or a Prometheus scrape gap, short enough that nobody ramps blind for long; then a person decides, as on
 * missing data.
 */
export const MEASUREMENT_ERROR_DEFAULTS = { consecutiveErrorLimit: 4, onMeasurementErrors: 'pause' } as const;

/**
 * Defaults of the canary's warm-up, applied where it is read (`warmUpOf` in src/shared/analysis/warm-up.ts): the first
 * sample of every step (`duration` unset: one `interval`), and every sample until the canary has served 10 requests in
 * the step. An ordinary cold start (code paths not yet compiled by the JIT, connections and caches opened on first
 * use) slows a process's first handful of requests: the issue's service answered its first 5 in 400 ms, twice that is
 * the margin. Ten requests cost nothing where a sample can be judged on its own (the default minRequests is 50); a
 * duration alone would not cover a cold start at low traffic, where 10 requests take several samples.
 */
export const WARM_UP_DEFAULTS = { requests: 10 } as const;

/**
 * The canary's warm-up at the start of each step (where a target starts the new release's processes, or adds some as
 * the weight grows): samples in it are measured and recorded, not judged, and stay out of the step's whole window.
 */
const warmUpSchema = z
  .object({
    /** From the step's start: a sample whose window began this soon is not judged. Unset: one interval. */
    duration: bounded('warmUp').optional(),
    /**
     * Requests the canary serves in each step before its samples are judged: the providers measure versions, not
     * processes, so this counts the canary's; on a target that starts several processes in a step, multiply.
     */
    requests: z.number().int().min(0).max(1_000_000).optional(),
  })
  .strict();

/** A step's score thresholds (0 to 100): at or above `pass` the step passes, below `marginal` it fails. */
const scoreSchema = z
  .object({
    pass: z.number().min(0).max(100).default(75),
    marginal: z.number().min(0).max(100).default(50),
  })
  .strict()
  .refine((s) => s.marginal <= s.pass, { message: 'marginal must not be above pass' });

/**
 * The canary's cost per 1,000 requests against stable's (rules revision cost; the worker's `cost` source prices it).
 * `cost: fail` or `cost: alert` is short for `onIncrease`. Unset (each part): COST_DEFAULTS in src/shared/cost.ts,
 * left unset so a deploy recorded before it keeps its rollout and signed plan hash when it replays.
 */
const costSchema = z.union([
  z.enum(['alert', 'fail']).transform((onIncrease) => ({ onIncrease })),
  z
    .object({
      /** The increase tolerated: 0.2 is +20 % (the spec's alert figure). */
      increase: z.number().min(0).max(10).optional(),
      /** alert: tell people and let the step pass; fail: fail the step, as any other check. */
      onIncrease: z.enum(['alert', 'fail']).optional(),
      /** A step whose cost cannot be measured waits for it up to its max bake, then is inconclusive. */
      required: z.boolean().optional(),
    })
    .strict(),
]);

const analysisObjectSchema = z
  .object({
    /** Where samples come from: the local platform's recorded figures, or Prometheus (metrics.prometheus). */
    provider: z.enum(['local', 'prometheus', 'nginx-log']).default('local'),
    /** Time between two samples during a bake. */
    interval: bounded('interval').default(30_000),
    /** Fewer requests than this in a sample make it inconclusive, never a success. */
    minRequests: z.number().int().min(1).default(50),
    /**
     * Failing or unmeasurable samples of the whole run in this environment before rolling back, however they are
     * spread (Argo Rollouts' failureLimit). Set alone, in a config written before consecutiveFailureLimit existed, it
     * keeps its old meaning: see {@link legacyFailureLimitNote}.
     */
    failureLimit: z.number().int().min(1).optional(),
    /** Failing or unmeasurable samples in a row before rolling back; an inconclusive sample neither breaks nor adds. */
    consecutiveFailureLimit: z.number().int().min(1).optional(),
    /** Consecutive samples without the data to judge (other than too few requests) after which the canary pauses. */
    inconclusiveLimit: z.number().int().min(1).default(10),
    /**
     * Samples in a row that could not be measured (provider or platform unreachable, query failed) before
     * `onMeasurementErrors` applies; they are never counted as failing. Unset: {@link MEASUREMENT_ERROR_DEFAULTS}
     * (left unset rather than defaulted so the rollout, and the hash approvers sign, of a deploy recorded before
     * this setting existed stays the same when it replays).
     */
    consecutiveErrorLimit: z.number().int().min(1).optional(),
    /** What too many measurement errors in a row do: wait for a person (default), or roll back. */
    onMeasurementErrors: z.enum(['pause', 'rollback']).optional(),
    /**
     * The canary's warm-up at the start of each step, not judged. Unset (each part): {@link WARM_UP_DEFAULTS}, left
     * unset rather than defaulted so a deploy recorded before it keeps its rollout and signed plan hash when it replays.
     */
    warmUp: warmUpSchema.optional(),
    /**
     * Requests the canary must have served in a step before the step can end. Unset: minRequests for every sample
     * the bake holds (bake / interval), so a step ends only with as much traffic as judging each sample would need.
     */
    minStepRequests: z.number().int().min(1).optional(),
    /** A step waits for minStepRequests up to this many times its bake, then it is inconclusive. */
    maxBakeFactor: z.number().min(1).max(10).default(3),
    /** What an inconclusive step (max bake reached without the requests to judge) does: wait for a person, or roll back. */
    onInconclusive: z.enum(['pause', 'rollback']).default('pause'),
    /** The step's score from its cumulative window: below marginal rolls back, between marginal and pass pauses. */
    score: scoreSchema.default({ pass: 75, marginal: 50 }),
    errorRate: thresholdSchema('ratio').default({ warn: 0.01, critical: 0.05 }),
    latencyP95: thresholdSchema('duration').default({ warn: 2_000, critical: 5_000 }),
    /** Optional: p99 latency thresholds. */
    latencyP99: thresholdSchema('duration').optional(),
    /** Optional: metrics of your own, from Prometheus. */
    custom: z.array(customMetricSchema).default([]),
    compare: compareSchema.default(compareSchema.parse({})),
    /** Cost per 1,000 requests, canary against stable, from the worker's cost source. */
    cost: costSchema.optional(),
  })
  .strict();

/**
 * Health analysis settings; the defaults are the spec's thresholds. Failure budgets: 5 failing or unmeasurable
 * samples in a run, 3 in a row. Over the default 60-sample ramp, 5 stops a release failing one sample in three (or
 * one in two, or in bursts) by its 15th sample, inside the first step, while a healthy release (whose samples fail
 * only by chance, under 1 % each at the per-sample 99 % confidence) almost never collects 5; 3 in a row is today's
 * default, kept.
 */
export const analysisConfigSchema = analysisObjectSchema
  .transform(({ failureLimit, consecutiveFailureLimit, ...rest }) => {
    // failureLimit alone was written for its old meaning (in a row): it becomes the consecutive limit.
    const consecutive = consecutiveFailureLimit ?? failureLimit ?? FAILURE_BUDGET_DEFAULTS.consecutiveFailureLimit;
    // A run-wide budget below the consecutive limit would make the latter moot: the default never is.
    const budget =
      consecutiveFailureLimit !== undefined && failureLimit !== undefined
        ? failureLimit
        : Math.max(FAILURE_BUDGET_DEFAULTS.failureLimit, consecutive);
    return { ...rest, failureLimit: budget, consecutiveFailureLimit: consecutive };
  })
  .refine((a) => a.custom.length === 0 || a.provider === 'prometheus', {
    message: 'custom metrics are PromQL: set provider: prometheus',
    path: ['custom'],
  });

/**
 * The one-line note for a config that sets `failureLimit` without `consecutiveFailureLimit`: written when
 * failureLimit meant "in a row", it keeps that meaning. `where` names the setting (e.g. "environments.production");
 * undefined when the config is not of that kind.
 */
export function legacyFailureLimitNote(raw: unknown, where: string): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const analysis = raw as Record<string, unknown>;
  if (!Object.hasOwn(analysis, 'failureLimit') || Object.hasOwn(analysis, 'consecutiveFailureLimit')) return undefined;
  const parsed = analysisConfigSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const { consecutiveFailureLimit, failureLimit } = parsed.data;
  return (
    `${where}.analysis: failureLimit ${consecutiveFailureLimit} read as consecutiveFailureLimit (its meaning before ` +
    `the run-wide budget); failureLimit, failing samples of the whole run, takes ${failureLimit}. Set both to silence this.`
  );
}

const canaryStepSchema = z.object({ weight: z.number().int().min(1).max(100), bake: bounded('bake') }).strict();

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

export type AnalysisConfig = z.infer<typeof analysisConfigSchema>;
export type CanaryStep = z.infer<typeof canaryStepSchema>;
