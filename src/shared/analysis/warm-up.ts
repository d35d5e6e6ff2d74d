/**
 * The canary's warm-up (rules revision latencyConfidence): the first samples of a step, after the new release's
 * processes start or a scale-up adds some, are measured and recorded but not judged, so a cold start is not read as a
 * regression. Argo Rollouts has `initialDelay` for this, Kayenta a warm-up period.
 */
import { WARM_UP_DEFAULTS, type AnalysisConfig } from '../analysis-config';
import type { JudgedOutcome, WarmUpFact } from '../analysis';
import type { RolloutEnvironment } from '../deploy/input';
import { formatDuration } from '../duration';
import type { JudgedWindow } from './checks';
import { JUDGEMENT_RULES, rulesOf } from './rules';

/** The warm-up an environment's steps begin with, its defaults applied. */
export interface WarmUpSettings {
  durationMs: number;
  requests: number;
}

/** The warm-up settings with their defaults: one interval, and {@link WARM_UP_DEFAULTS}' requests. */
export function warmUpOf(config: Pick<AnalysisConfig, 'warmUp' | 'interval'>): WarmUpSettings {
  return {
    durationMs: config.warmUp?.duration ?? config.interval,
    requests: config.warmUp?.requests ?? WARM_UP_DEFAULTS.requests,
  };
}

/**
 * Whether a step begins with a warm-up: every canary step (the first starts the release's processes, later ones may
 * add processes as the weight grows, and nothing tells which), a direct deploy's verification and blue-green's window
 * after the switch (processes that had no traffic take all of it); not blue-green's keep-blue window, which goes on
 * with the same processes and traffic.
 */
export function stepWarmsUp(env: Pick<RolloutEnvironment, 'strategy' | 'rules'>, step: number): boolean {
  if (rulesOf(env) < JUDGEMENT_RULES.latencyConfidence) return false;
  return !(env.strategy === 'blue-green' && step > 0);
}

/** What a step has seen of its warm-up: every canary request served in it, and the samples and requests not judged. */
export interface WarmUpProgress {
  /** Canary requests of every measured sample of the step, warm-up included. */
  served: number;
  samples: number;
  requests: number;
}

/** Nothing served yet. */
export function noWarmUp(): WarmUpProgress {
  return { served: 0, samples: 0, requests: 0 };
}

/**
 * Whether a measured sample falls in its step's warm-up: its window (of `windowMs`, ending `elapsedMs` after the step
 * began) began within the warm-up's duration, or the canary had served fewer than its requests in the step before
 * this sample, so the sample holds some of them. A window cannot be split: the whole sample is left out. undefined
 * once the warm-up is over.
 */
export function warmUpFact(
  settings: WarmUpSettings,
  progress: WarmUpProgress,
  at: { elapsedMs: number; windowMs: number },
  sample: Pick<JudgedWindow, 'verdict'>,
): WarmUpFact | undefined {
  const by: WarmUpFact['by'] = [];
  if (settings.durationMs > 0 && at.elapsedMs - at.windowMs < settings.durationMs) by.push('duration');
  if (progress.served < settings.requests) by.push('requests');
  if (by.length === 0) return undefined;
  return {
    by,
    durationMs: settings.durationMs,
    requests: settings.requests,
    servedBefore: progress.served,
    verdict: sample.verdict,
  };
}

/**
 * What a warm-up sample counts as: nothing (`warm-up`), unless its error rate is critical with confidence: a release
 * that fails outright is not cold, and is rolled back at once as any critical sample is. Latency, which a cold start
 * slows, is never held against it here.
 */
export function warmUpOutcome(sample: Pick<JudgedWindow, 'checks'>): JudgedOutcome {
  const errors = sample.checks.find((c) => c.metric === 'errorRate' && c.kind === 'threshold');
  return errors?.verdict === 'critical' ? 'critical' : 'warm-up';
}

/** A warm-up sample's reason for people: why it was not judged, then what its checks said. */
export function describeWarmUp(fact: WarmUpFact, reason: string): string {
  const why = fact.by.map((b) =>
    b === 'duration'
      ? `its window began in the step's first ${formatDuration(fact.durationMs)}`
      : `${fact.servedBefore} of the step's first ${fact.requests} requests served before it`,
  );
  return `warm-up, not judged (${why.join('; ')}): ${reason}`;
}
