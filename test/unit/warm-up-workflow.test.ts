/**
 * A cold start on the real workflow path (issue 24): a release as fast as stable once warm, whose new process answers
 * its first 5 requests in 400 ms, is promoted by a deploy planned now, its warm-up recorded in status, summary.md and
 * the step verdicts, and `judgeRun` over what the deploy recorded gives its verdicts back; the rules of revision 2
 * would have rolled it back.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { MetricsProvider, MetricsQuery } from '../../src/activities/metrics/contract';
import { formatSample, formatStatus } from '../../src/cli/format';
import type { MetricsWindow } from '../../src/shared/analysis';
import { judgeRun, measurementsOf } from '../../src/shared/analysis/judge-run';
import { JUDGEMENT_RULES } from '../../src/shared/analysis/rules';
import { histogramQuantile, LATENCY_BUCKETS_MS, type LatencyHistogram } from '../../src/shared/statistics';
import { describeStatus } from '../../src/workflows/deploy/details';
import { DeployTestEnv } from '../helpers/workflow-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

const t = new DeployTestEnv();
before(() => t.setup());
after(() => t.teardown());

function windowOf(version: string, fast: number, slow: number): MetricsWindow {
  const latency: LatencyHistogram = {
    boundsMs: [...LATENCY_BUCKETS_MS],
    counts: LATENCY_BUCKETS_MS.map((b) => (b === 10 ? fast : b === 500 ? slow : 0)),
  };
  return {
    version,
    requests: fast + slow,
    errors: 0,
    p95Ms: histogramQuantile(latency, 0.95),
    p99Ms: histogramQuantile(latency, 0.99),
    latency,
  };
}

/** Production's new process: 20 requests a sample at 5–10 ms, its first 5 in 250–500 ms; everything else warm. */
class ColdStart implements MetricsProvider {
  private served = 0;

  async window(query: MetricsQuery): Promise<MetricsWindow> {
    if (query.environment !== 'production' || query.version !== '1.1.0') return windowOf(query.version, 180, 0);
    const slow = Math.max(0, Math.min(20, 5 - this.served));
    this.served += 20;
    return windowOf(query.version, 20 - slow, slow);
  }
}

describe('a cold start in the deploy workflow', () => {
  it('is the warm-up of each step, recorded and not judged: the release is promoted', async () => {
    const run = await t.runDeploy(
      {
        metrics: new ColdStart(),
        // The default warm-up: production's analysis sets none.
        config: { production: { analysis: { interval: '30s', minRequests: 10, inconclusiveLimit: 3 } } },
      },
      t.approve(),
    );
    assert.equal(run.result?.outcome, 'promoted', String(run.error));
    const rollout = run.status.rollout ?? [];
    // Judged by the warm-up's revision or a later one.
    assert.ok((rollout.find((e) => e.name === 'production')?.rules ?? 0) >= JUDGEMENT_RULES.latencyConfidence);

    const samples = run.status.samples.filter((s) => s.environment === 'production');
    const first = samples[0];
    assert.equal(first?.verdict, 'warm-up');
    assert.deepEqual(first?.warmUp && [first.warmUp.by, first.warmUp.durationMs, first.warmUp.requests], [
      ['duration', 'requests'],
      30_000,
      10,
    ]);
    // What its checks said is kept: 5 of 20 requests slow would have failed the sample.
    assert.equal(first?.warmUp?.verdict, 'failing');
    assert.match(formatSample(first!), /WARM-UP \(checks failing\) req=20 .* warm-up, not judged/);
    assert.equal(samples.filter((s) => s.verdict === 'warm-up').length, 3, 'one a step');
    assert.ok(samples.every((s) => s.verdict === 'warm-up' || s.verdict === 'healthy'));
    const result = run.status.results?.find((r) => r.environment === 'production');
    assert.equal(result?.samples['warm-up'], 3);
    assert.equal(result?.failingSince, undefined);

    const steps = (run.status.stepVerdicts ?? []).filter((s) => s.environment === 'production');
    assert.deepEqual(
      steps.map((s) => [s.weight, s.verdict, s.warmUp]),
      [10, 50, 100].map((w) => [w, 'pass', { samples: 1, requests: 20 }]),
    );

    // Status, the UI's details and summary.md say so.
    const lines = formatStatus(run.status);
    assert.ok(
      lines.some((l) => l.includes('(+1 in warm-up, 20 requests not judged)')),
      lines.join('\n'),
    );
    assert.ok(
      lines.includes(
        "  warm-up in production: each step's samples not judged while their window began in its first 30s or " +
          'the canary had served fewer than 10 requests in it',
      ),
      lines.join('\n'),
    );
    const details = describeStatus({ ...run.status, lastSample: first });
    assert.match(details, /last sample \(production at 10 %\): \*\*warm-up\*\* \(not judged; checks failing\)/);
    assert.match(details, /\d+ samples and 1 in warm-up \(20 requests, not judged\)/);
    const summary = readFileSync(path.join(t.workdir, run.status.report?.dir ?? 'missing', 'summary.md'), 'utf8');
    assert.match(
      summary,
      /- Warm-up: at the start of each step, samples whose window began in its first 30s or before/,
    );
    assert.match(summary, /\| \*\*warm-up\*\* \| warm-up, not judged \(its window began/);
    assert.match(summary, /and 1 in its warm-up \(20 canary requests, not judged\)/);

    // The judgement re-run over what the deploy recorded gives its verdicts back ...
    const measurements = measurementsOf(run.status);
    const replayed = judgeRun(rollout, measurements);
    assert.equal(replayed.environments.find((e) => e.environment === 'production')?.outcome, 'promoted');
    assert.deepEqual(
      replayed.steps.filter((s) => s.environment === 'production').map((s) => [s.weight, s.verdict, s.score, s.warmUp]),
      steps.map((s) => [s.weight, s.verdict, s.score, s.warmUp]),
    );
    // ... and the rules a deploy planned before this change ran by would have rolled the release back at 10 %.
    const before = judgeRun(
      rollout.map((e) => ({ ...e, rules: JUDGEMENT_RULES.errorsApart })),
      measurements,
    );
    const production = before.environments.find((e) => e.environment === 'production');
    assert.equal(production?.outcome, 'rolled-back');
    assert.equal(before.steps.find((s) => s.environment === 'production')?.weight, 10);
  });
});
