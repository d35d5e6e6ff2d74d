/**
 * The local platform's control API: request bodies the server validates and responses the client validates.
 * Response schemas are not strict, so the server may add fields without breaking older clients.
 */
import { z } from 'zod';
import { nameSchema, versionSchema } from '../shared/validation';

/** A deploy's id (the deploy workflow's id); it owns a canary and makes every mutation idempotent. */
export const deployIdSchema = z
  .string()
  .min(1, 'deployId must not be empty')
  .max(256, 'deployId is at most 256 characters');

/** Canary traffic share in percent. */
export const weightSchema = z.number().int('weight must be a whole number').min(0).max(100);

// ---- request bodies ----

/** PUT .../canary */
export const startCanaryBodySchema = z.strictObject({ deployId: deployIdSchema, version: versionSchema });
/** PUT .../weight */
export const setWeightBodySchema = z.strictObject({ deployId: deployIdSchema, weight: weightSchema });
/** POST .../promote */
export const promoteBodySchema = z.strictObject({ deployId: deployIdSchema, version: versionSchema });
/**
 * POST .../rollback. `rollbackId` names the rollback step, the same on each retry of it: the event log keeps it, so a
 * retry can tell its own earlier attempt's work from another rollback of the same deploy id.
 */
export const rollbackBodySchema = z.strictObject({
  deployId: deployIdSchema,
  rollbackId: z.string().min(1).max(512).optional(),
});

/** Query of GET .../stats: the window is 1 s to 15 min, the span of kept data. */
export const statsQuerySchema = z.strictObject({
  version: versionSchema,
  windowMs: z.coerce.number().int().min(1_000).max(900_000).default(60_000),
});

export type StartCanaryBody = z.infer<typeof startCanaryBodySchema>;
export type SetWeightBody = z.infer<typeof setWeightBodySchema>;
export type PromoteBody = z.infer<typeof promoteBodySchema>;
export type RollbackBody = z.infer<typeof rollbackBodySchema>;

// ---- responses ----

/** Every failure: a stable `code` for programs and a one-line `message` for people. */
export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** GET /healthz */
export const healthSchema = z.object({ ok: z.literal(true), pid: z.number().int() });

/** The stable release of a service in one environment; `deployId` is the deploy that promoted it (null: initial). */
export const stableSchema = z.object({
  version: versionSchema,
  port: z.number().int(),
  pid: z.number().int(),
  deployId: deployIdSchema.nullable(),
  since: z.number(),
});

/** A canary release owned by one deploy; it gets `weight` % of the router's traffic. */
export const canarySchema = z.object({
  version: versionSchema,
  port: z.number().int(),
  pid: z.number().int(),
  weight: weightSchema,
  deployId: deployIdSchema,
  startedAt: z.number(),
  weightChangedAt: z.number(),
});

/** One service in one environment: its router, stable release and optional canary. */
export const trackSchema = z.object({
  environment: nameSchema,
  service: nameSchema,
  routerUrl: z.string().url(),
  stable: stableSchema,
  canary: canarySchema.nullable(),
  /** The stable release before the last promotion, kept so that promotion can be rolled back. */
  previousStable: z.object({ version: versionSchema, deployId: deployIdSchema.nullable() }).nullable(),
});

/** GET /v1/state: every environment and service, in config order. */
export const stateSchema = z.object({ environments: z.array(trackSchema) });
/** GET /v1/services/:service/releases */
export const releasesSchema = z.object({ service: nameSchema, versions: z.array(versionSchema) });

/** `alreadyPromoted`: this deploy already promoted the version, so there is nothing to start. */
export const startCanaryResultSchema = trackSchema.extend({ alreadyPromoted: z.boolean() });
/** `changedAt`: when the current weight took effect (unchanged when the same weight is set again). */
export const setWeightResultSchema = trackSchema.extend({ changedAt: z.number() });
export const promoteResultSchema = trackSchema;

/**
 * `weightZeroAt`: when the bad version stopped getting new requests. `restoredVersion` is set when a promotion was
 * rolled back by bringing back the previous stable release. `by`: whether this request did it, or an earlier request
 * with the same rollbackId did (its answer lost) and this one, finding it in the track's event log, changed nothing;
 * a platform older than this field only answers for this request.
 */
export const rollbackResultSchema = z.discriminatedUnion('rolledBack', [
  trackSchema.extend({
    rolledBack: z.literal(true),
    weightZeroAt: z.number(),
    version: versionSchema,
    restoredVersion: versionSchema.nullable(),
    by: z.enum(['this-request', 'earlier-request']).default('this-request'),
  }),
  trackSchema.extend({ rolledBack: z.literal(false), reason: z.string() }),
]);

/**
 * A latency histogram (per-bucket counts, inclusive upper bounds) as JSON carries it: the overflow bucket's bound,
 * Infinity, is null on the wire and Infinity again once parsed.
 */
export const latencyHistogramSchema = z
  .object({
    boundsMs: z.array(
      z
        .number()
        .nullable()
        .transform((bound) => bound ?? Infinity),
    ),
    counts: z.array(z.number().nonnegative()),
  })
  .refine((h) => h.boundsMs.length === h.counts.length, 'boundsMs and counts must have the same length');

/** GET .../stats: one version over the last `windowMs`; no requests means errorRate 0 and null latencies. */
export const windowStatsSchema = z.object({
  environment: nameSchema,
  service: nameSchema,
  version: versionSchema,
  windowMs: z.number().int(),
  from: z.number(),
  to: z.number(),
  requests: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  errorRate: z.number().min(0).max(1),
  p50Ms: z.number().nullable(),
  p95Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
  /** The window's latencies in fixed buckets; absent from a platform older than the histograms. */
  latency: latencyHistogramSchema.optional(),
  /**
   * What the version's processes used in the window: CPU seconds, and average resident memory (null: not read, as off
   * Linux). Absent from a platform older than usage.
   */
  usage: z
    .object({ cpuSeconds: z.number().nonnegative(), memoryBytes: z.number().nonnegative().nullable() })
    .optional(),
});

/** What happened: releases started, weights set, promotions, rollbacks, a saved canary that did not come back. */
export const eventKindSchema = z.enum([
  'stable-started',
  'canary-started',
  'weight',
  'promoted',
  'rolled-back',
  'canary-stopped',
  'stable-restored',
  'canary-lost',
]);

/** Something that happened to a track; `at` is ms since the epoch, so rollback speed can be measured from events. */
export const platformEventSchema = z.object({
  at: z.number(),
  deployId: deployIdSchema.nullable(),
  kind: eventKindSchema,
  version: versionSchema.optional(),
  weight: weightSchema.optional(),
  detail: z.string().optional(),
  /** On `rolled-back`: the rollback step that did it, when the request named one. */
  rollbackId: z.string().optional(),
});

/** GET .../events, oldest first. */
export const eventsSchema = z.object({
  environment: nameSchema,
  service: nameSchema,
  events: z.array(platformEventSchema),
});

export type Health = z.infer<typeof healthSchema>;
export type Track = z.infer<typeof trackSchema>;
export type PlatformState = z.infer<typeof stateSchema>;
export type Releases = z.infer<typeof releasesSchema>;
export type StartCanaryResult = z.infer<typeof startCanaryResultSchema>;
export type SetWeightResult = z.infer<typeof setWeightResultSchema>;
export type PromoteResult = z.infer<typeof promoteResultSchema>;
export type RollbackResult = z.infer<typeof rollbackResultSchema>;
export type WindowStats = z.infer<typeof windowStatsSchema>;
export type PlatformEventKind = z.infer<typeof eventKindSchema>;
export type PlatformEvent = z.infer<typeof platformEventSchema>;
export type Events = z.infer<typeof eventsSchema>;
