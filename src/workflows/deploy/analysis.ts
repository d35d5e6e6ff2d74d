import { ActivityFailure, isCancellation } from '@temporalio/workflow';
import {
  analyseWindow,
  decide,
  type AnalysisCounts,
  type AnalysisSample,
  type SampleOutcome,
} from '../../shared/analysis';
import { decidingChecks, type DecidingCheck, type EnvironmentPlan } from '../../shared/deploy';
import { failureMessage } from '../../shared/errors';
import { percent } from '../../shared/format';
import { MEASURE_OPTIONS, metrics } from './proxies';
import { bake, honourControls, pause } from './controls';
import { StageAborted } from './stage';
import { now, type DeployState } from './state';

/** Where in the rollout a window of analysis runs. */
export interface AnalysisStep {
  env: EnvironmentPlan;
  /** Canary step index (0-based), or -1 for a verification outside a canary. */
  step: number;
  weight: number;
  durationMs: number;
  /** The version the new one is compared with; null when nothing ran before. */
  stable: string | null;
}

/** One judged sample as the loop sees it, or a measurement that could not be taken. */
interface Judged {
  outcome: SampleOutcome;
  reason: string;
  headline?: string;
  checks: DecidingCheck[];
}

/**
 * Samples the release every interval until `durationMs` has passed with at least one conclusive sample. Throws
 * StageAborted on a critical sample, on too many failing or unmeasurable samples, on an abort or an unanswered
 * pause; PromoteNow when a person promotes. Too many inconclusive samples pause for a person.
 */
export async function analyse(state: DeployState, at: AnalysisStep): Promise<void> {
  const { env, weight, durationMs } = at;
  const { analysis } = env;
  const began = Date.now();
  let counts: AnalysisCounts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
  let conclusive = 0;
  let previous = '';
  let lastFailing: DecidingCheck[] = [];
  for (;;) {
    // The previous sample's verdict rides on the next timer, so the UI's timeline shows every decision.
    await bake(state, analysis.interval, `bake ${env.name} at ${weight} %${previous}`);
    await honourControls(state, env);
    const judged = await measure(state, at);
    previous = ` (last sample ${judged.outcome}${judged.headline ? `: ${judged.headline}` : ''})`;
    if (judged.outcome === 'failing') lastFailing = judged.checks;
    const decision = decide(judged.outcome, counts, analysis, judged.reason);
    if (decision.action === 'rollback') {
      if (decision.cause === 'critical') {
        throw new StageAborted({ kind: 'critical', checks: judged.checks }, decision.reason);
      }
      const { failing, unmeasured, limit } = decision;
      state.result(env.name).failingSince ??= now();
      throw new StageAborted(
        { kind: 'failure-limit', failing, unmeasured, limit, checks: lastFailing },
        decision.reason,
      );
    }
    if (decision.action === 'pause') {
      pause(state, env, 'inconclusive', 'opsflow', decision.reason);
      await honourControls(state, env);
      counts = { consecutiveFailures: 0, consecutiveInconclusive: 0 };
      continue;
    }
    counts = decision;
    if (judged.outcome === 'healthy' || judged.outcome === 'warning') conclusive += 1;
    if (Date.now() - began >= durationMs && conclusive > 0) return;
  }
}

/** One sample: measured by the provider, judged here (so the decision and its evidence are in history). */
async function measure(state: DeployState, at: AnalysisStep): Promise<Judged> {
  const { env, step, weight, stable } = at;
  const { input } = state;
  const { analysis } = env;
  try {
    const measured = await metrics.measure.executeWithOptions(
      {
        ...MEASURE_OPTIONS,
        summary: `measure ${input.service} ${input.version}${stable ? ` vs ${stable}` : ''} in ${env.name} at ${weight} %`,
      },
      [
        {
          environment: env.name,
          service: input.service,
          version: input.version,
          stableVersion: stable,
          windowMs: analysis.interval,
          ...(analysis.provider !== 'local' ? { provider: analysis.provider } : {}),
          ...(analysis.custom.length ? { custom: analysis.custom.map(({ name, query }) => ({ name, query })) } : {}),
        },
      ],
    );
    const judged = analyseWindow(measured.canary, analysis, measured.stable);
    const sample: AnalysisSample = {
      at: now(),
      environment: env.name,
      step,
      weight,
      windowMs: analysis.interval,
      canary: measured.canary,
      stable: measured.stable,
      ...judged,
    };
    state.recordSample(sample);
    const p95 = measured.canary.p95Ms === null ? '–' : `${Math.round(measured.canary.p95Ms)} ms`;
    const headline = `${percent(judged.errorRate)} errors, p95 ${p95}, ${measured.canary.requests} requests`;
    return { outcome: judged.verdict, reason: judged.reason, headline, checks: decidingChecks(sample) };
  } catch (err) {
    if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
    const reason = failureMessage(err);
    state.recordUnmeasured(env.name, weight);
    state.note(`sample could not be measured: ${reason}`);
    return { outcome: 'unmeasured', reason, checks: [] };
  }
}
