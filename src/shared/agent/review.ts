// The daily self-review: the spec's questions answered from the figures, and the improvement items they open.
import { percent as formatPercent } from '../format';
import type { AgentConfig, AgentTargets } from './config';
import { deriveFigures, deploysPerDay, type DerivedFigures } from './figures';
import {
  measuredImprovements,
  monitoringAnswer,
  vulnerabilityAnswer,
  type ReviewAnswer,
  type ReviewMeasures,
} from './measures';
import type { AgentState } from './state';

/** An improvement item the feedback loop or the review opened. */
export interface ImprovementItem {
  key: string;
  openedAt: string;
  text: string;
}

/** A daily self-review: figures of the day and all time, the five questions, open improvement items. */
export interface SelfReview {
  project: string;
  date: string;
  /** Asked for by a person (`opsflow agent review`) rather than the daily schedule. */
  manual: boolean;
  from: string;
  to: string;
  day: DerivedFigures;
  total: DerivedFigures;
  deploysPerDay: number;
  targets: AgentTargets;
  answers: ReviewAnswer[];
  /** What the worker measured for it (absent in reviews before it did; null when it did not answer). */
  measures?: ReviewMeasures | null;
  improvements: ImprovementItem[];
  improvementsClosed: string[];
  improvementsOpened: string[];
}

/** The review's file name stem: the date, and the time for one asked for by a person. */
export function reviewName(review: Pick<SelfReview, 'date' | 'manual' | 'to'>): string {
  return review.manual ? `${review.date}-${review.to.slice(11, 16).replace(':', '')}` : review.date;
}

/** "12.5 %" */
export function percent(ratio: number): string {
  return formatPercent(ratio, ratio === 0 || ratio === 1 ? 0 : 1);
}

/** "3m 20s", for review texts (kept here so workflow and activities agree). */
export function minutes(ms: number): string {
  const totalSeconds = Math.round(ms / 1_000);
  const m = Math.floor(totalSeconds / 60);
  const s = totalSeconds % 60;
  if (m === 0) return `${s}s`;
  return s ? `${m}m ${s}s` : `${m}m`;
}

function causesText(causes: Record<string, number>): string {
  const entries = Object.entries(causes).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length ? entries.map(([k, n]) => `${k} ×${n}`).join(', ') : 'none';
}

/** Where the agent's own figures come from. */
const DEPLOY_RECORDS = "the agent's records of the day's deploys";

/**
 * The spec's daily questions (and the DORA figures) answered from measured figures only; vulnerabilities and monitoring
 * also from what the worker measured (`measures`; null when nothing it measured reaches this answer).
 */
export function reviewAnswers(
  day: DerivedFigures,
  targets: AgentTargets,
  openItems: number,
  measures: ReviewMeasures | null,
): ReviewAnswer[] {
  const answers: ReviewAnswer[] = [];
  const changes = day.promoted + day.rolledBack + day.failed;
  answers.push(
    day.meanPipelineMs === null
      ? { question: 'Are deployments meeting speed targets?', status: 'no-data', answer: 'No deployment ran.' }
      : {
          question: 'Are deployments meeting speed targets?',
          status: day.withinTarget === changes ? 'met' : 'below-target',
          answer:
            `${day.withinTarget} of ${changes} deployments took at most ${minutes(targets.deployDuration)} ` +
            `(mean ${minutes(day.meanPipelineMs)}, slowest ${minutes(day.maxPipelineMs ?? 0)}, not counting the wait for approval).`,
        },
  );
  answers.push(
    day.successRate === null
      ? {
          question: 'Is the deployment success rate on target?',
          status: 'no-data',
          answer: 'No change reached an ending.',
        }
      : {
          question: 'Is the deployment success rate on target?',
          status:
            day.successRate >= targets.successRate
              ? 'met'
              : day.successRate >= targets.successRateFloor
                ? 'below-target'
                : 'failing',
          answer:
            `${percent(day.successRate)} (${day.promoted} of ${changes}) against ${percent(targets.successRate)}, ` +
            `floor ${percent(targets.successRateFloor)}; change failure rate ${percent(day.changeFailureRate ?? 0)}.`,
        },
  );
  answers.push(
    day.restores === 0
      ? {
          question: 'Was service restored within the time-to-restore target?',
          status: day.rolledBack + day.failed > 0 ? 'attention' : 'no-data',
          answer:
            day.rolledBack + day.failed > 0
              ? 'Failures happened but no restore time could be measured.'
              : 'Nothing needed restoring.',
        }
      : {
          question: 'Was service restored within the time-to-restore target?',
          status: day.restoresWithinTarget === day.restores ? 'met' : 'below-target',
          answer:
            `${day.restoresWithinTarget} of ${day.restores} restores within ${minutes(targets.timeToRestore)} ` +
            `(mean ${minutes(day.meanRestoreMs ?? 0)}, longest ${minutes(day.maxRestoreMs ?? 0)}). ` +
            `Rollbacks: ${day.rolledBack}; causes: ${causesText(day.causes)}.`,
        },
  );
  for (const answer of answers) answer.source = DEPLOY_RECORDS;
  answers.push(vulnerabilityAnswer(day, measures), monitoringAnswer(day, measures));
  answers.push({
    question: 'Are costs optimized without sacrificing performance?',
    status: 'not-measured',
    answer: 'No cost source is configured; nothing is claimed.',
    source: 'none configured',
  });
  answers.push({
    question: 'What automation opportunities exist?',
    status: openItems > 0 ? 'attention' : 'met',
    answer: openItems > 0 ? `${openItems} open improvement items (below).` : 'No open improvement item.',
    source: 'the open improvement items',
  });
  return answers;
}

/**
 * Opens improvement items for what the day's figures show (slow deploys, slow restores, noisy analysis,
 * repeated failure causes) and what the worker measured (vulnerabilities, services without a metrics source), and
 * closes those the day shows fixed: a measured item when the worker measured it again and found it gone. Bounded to 20
 * open items.
 */
export function reviseImprovements(
  items: ImprovementItem[],
  day: DerivedFigures,
  targets: AgentTargets,
  at: string,
  measures: ReviewMeasures | null = null,
): { items: ImprovementItem[]; opened: string[]; closed: string[] } {
  const measured = measuredImprovements(measures);
  const wanted = new Map<string, string>(measured.wanted);
  const changes = day.promoted + day.rolledBack + day.failed;
  if (day.meanPipelineMs !== null && day.withinTarget < changes) {
    wanted.set(
      'speed',
      `${changes - day.withinTarget} of ${changes} deployments exceeded ${minutes(targets.deployDuration)}: ` +
        'shorten bake times or canary steps where the analysis is conclusive early.',
    );
  }
  if (day.restores > day.restoresWithinTarget) {
    wanted.set('restore', `Restores took longer than ${minutes(targets.timeToRestore)}: tighten failureLimit.`);
  }
  if (day.inconclusiveSamples + day.unmeasuredSamples > 0) {
    wanted.set(
      'monitoring',
      `${day.inconclusiveSamples + day.unmeasuredSamples} analysis samples were inconclusive or unmeasured: ` +
        'raise canary traffic or lower minRequests, and check the metrics source.',
    );
  }
  for (const [key, count] of Object.entries(day.causes)) {
    if (count >= 2)
      wanted.set(`cause:${key}`, `${key} failed ${count} times in a day: fix the cause, see the runbook.`);
  }
  const opened: string[] = [];
  const closed: string[] = [];
  const next: ImprovementItem[] = [];
  for (const item of items) {
    const fixed = measured.keys.has(item.key)
      ? measured.remeasured.has(item.key) && !wanted.has(item.key)
      : changes > 0 &&
        !wanted.has(item.key) &&
        (item.key.startsWith('cause:') ? !day.causes[item.key.slice(6)] && day.promoted > 0 : true);
    if (fixed) closed.push(item.key);
    else next.push(item);
  }
  for (const [key, text] of wanted) {
    if (next.some((i) => i.key === key)) continue;
    next.push({ key, openedAt: at, text });
    opened.push(key);
  }
  return { items: next.slice(-20), opened, closed };
}

/** Builds the day's self-review from the counters. */
export function buildSelfReview(args: {
  project: string;
  state: AgentState;
  fromMs: number;
  nowMs: number;
  config: AgentConfig;
  manual?: boolean;
  /** What the worker measured for it: null when it did not answer; undefined when it was not asked (older runs). */
  measures?: ReviewMeasures | null;
}): { review: SelfReview; improvements: ImprovementItem[] } {
  const { state, config, nowMs } = args;
  const day = deriveFigures(state.day);
  const at = new Date(nowMs).toISOString();
  const measures = args.measures ?? null;
  const revised = reviseImprovements(state.improvements, day, config.targets, at, measures);
  const review: SelfReview = {
    project: args.project,
    date: at.slice(0, 10),
    manual: args.manual ?? false,
    from: new Date(args.fromMs).toISOString(),
    to: at,
    day,
    total: deriveFigures(state.totals),
    deploysPerDay: deploysPerDay(state.totals, state.startedAt, nowMs),
    targets: config.targets,
    answers: reviewAnswers(day, config.targets, revised.items.length, measures),
    ...(args.measures === undefined ? {} : { measures }),
    improvements: revised.items,
    improvementsOpened: revised.opened,
    improvementsClosed: revised.closed,
  };
  return { review, improvements: revised.items };
}
