// What the worker measures for the self-review beyond the agent's own figures: the vulnerability scan of what each
// service deploys, and which services have a metrics source; and the two answers built from them with the day's facts.
import { z } from 'zod';
import type { DerivedFigures } from './figures';
import { refusals, securityText } from './security';

/** Severities as npm names them, worst first; `unknown` where the scanner gives none. */
export const SEVERITIES_WORST_FIRST = ['critical', 'high', 'moderate', 'low', 'info', 'unknown'] as const;
export type VulnerabilitySeverity = (typeof SEVERITIES_WORST_FIRST)[number];

/** One known vulnerability of one package, as the scanner reported it. */
export interface Vulnerability {
  /** The advisory's id (GHSA-..., an npm advisory number, CVE-...). */
  id: string;
  package: string;
  severity: VulnerabilitySeverity;
  title: string;
}

/** The scan of one service: what was scanned, and what was found or why nothing could be. */
export interface VulnerabilityScan {
  service: string;
  /** The version the agent last promoted, when it knows one (an image reference names it). */
  version: string | null;
  /** What the scanner read, as the worker's config names it: a lockfile path or an image reference. */
  target: string;
  /** Vulnerabilities by severity; absent when the scan gave no answer. */
  counts?: Record<VulnerabilitySeverity, number>;
  /** The worst few, worst first. */
  top?: Vulnerability[];
  /** Why the scan gave no answer, in one line. */
  error?: string;
}

/** How one service is measured in one environment, from the worker's config. */
export interface MetricsCoverage {
  service: string;
  environment: string;
  /** The provider whose samples judge it there; null where none can measure it. */
  provider: string | null;
  /** Where its samples come from, or why none can (for people). */
  detail: string;
}

/** What the worker measured for a self-review: each part null where no source is configured for it. */
export interface ReviewMeasures {
  /** The scanner the worker ran ("npm audit", "osv-scanner") and its scans; null: no scanner is configured. */
  vulnerabilities: { scanner: string; scans: VulnerabilityScan[] } | null;
  /** Every service in every environment of the pipeline; null: the worker was given no opsflow.yaml. */
  monitoring: MetricsCoverage[] | null;
  /** The worker's opsflow.yaml, named as the source of both. */
  configPath: string | null;
}

const text = (max: number) => z.string().max(max);
const severitySchema = z.enum(SEVERITIES_WORST_FIRST);
const countsSchema = z.record(severitySchema, z.number().int().nonnegative());

/**
 * The measures as the workflow accepts them from the activity: anyone with namespace access can complete an activity,
 * so an answer of another shape is dropped (the review says not measured), never allowed to fail the workflow's task.
 */
export const reviewMeasuresSchema: z.ZodType<ReviewMeasures> = z.object({
  vulnerabilities: z
    .object({
      scanner: text(100),
      scans: z
        .array(
          z.object({
            service: text(100),
            version: text(200).nullable(),
            target: text(1000),
            counts: countsSchema.optional(),
            top: z
              .array(z.object({ id: text(200), package: text(300), severity: severitySchema, title: text(1000) }))
              .max(20)
              .optional(),
            error: text(2000).optional(),
          }),
        )
        .max(200),
    })
    .nullable(),
  monitoring: z
    .array(z.object({ service: text(100), environment: text(100), provider: text(100).nullable(), detail: text(1000) }))
    .max(2000)
    .nullable(),
  configPath: text(1000).nullable(),
});

/** One question of the spec's daily self-review, answered from figures, and where they come from. */
export interface ReviewAnswer {
  question: string;
  status: 'met' | 'below-target' | 'failing' | 'attention' | 'no-data' | 'not-measured';
  answer: string;
  /** Where the answer's figures come from (absent in reviews recorded before answers named it). */
  source?: string;
}

const total = (counts: Record<VulnerabilitySeverity, number>) =>
  SEVERITIES_WORST_FIRST.reduce((n, s) => n + counts[s], 0);

/** "2 vulnerabilities (1 critical, 1 high)", or "no known vulnerability". */
export function countsText(counts: Record<VulnerabilitySeverity, number>): string {
  const n = total(counts);
  if (n === 0) return 'no known vulnerability';
  const parts = SEVERITIES_WORST_FIRST.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
  return `${n} ${n === 1 ? 'vulnerability' : 'vulnerabilities'} (${parts.join(', ')})`;
}

function scanText(scan: VulnerabilityScan): string {
  const what = `${scan.service}${scan.version ? ` ${scan.version}` : ''} (${scan.target})`;
  if (!scan.counts) return `${what}: the scan gave no answer (${scan.error ?? 'unknown error'})`;
  const worst = (scan.top ?? []).slice(0, 3).map((v) => `${v.package} ${v.id} (${v.severity})`);
  return `${what}: ${countsText(scan.counts)}${worst.length ? `, e.g. ${worst.join('; ')}` : ''}`;
}

/**
 * "Any security vulnerabilities detected?": the worker's scan of what each service deploys (not measured where no
 * scanner is configured), and opsflow's own security facts of the day from the deploys' statuses.
 */
export function vulnerabilityAnswer(day: DerivedFigures, measures: ReviewMeasures | null): ReviewAnswer {
  const question = 'Any security vulnerabilities detected?';
  const security = `opsflow's own security facts: ${securityText(day.security)}`;
  const events = `${day.events} infrastructure events (${day.criticalEvents} critical, ${day.warningEvents} warning)`;
  const factsSource = "the day's deploy statuses and freeze requests";
  const scan = measures?.vulnerabilities;
  const noticed = refusals(day.security) > 0 || day.criticalEvents > 0;
  if (!scan) {
    const why = measures
      ? 'No vulnerability scanner is configured on the worker (security.scanner in opsflow.yaml): not measured'
      : 'No scan by the worker reached this answer: not measured';
    return {
      question,
      status: noticed ? 'attention' : 'not-measured',
      answer: `${why}. ${security}; ${events}.`,
      source: factsSource,
    };
  }
  const failed = scan.scans.filter((s) => !s.counts);
  const found = scan.scans.reduce(
    (worst, s) =>
      s.counts ? { severe: worst.severe + s.counts.critical + s.counts.high, any: worst.any + total(s.counts) } : worst,
    { severe: 0, any: 0 },
  );
  const status: ReviewAnswer['status'] =
    found.severe > 0 ? 'failing' : found.any > 0 || failed.length > 0 || noticed ? 'attention' : 'met';
  const scans = scan.scans.length ? scan.scans.map(scanText).join('; ') : 'no service names what to scan';
  const targets = scan.scans.map((s) => s.target).join(', ');
  return {
    question,
    status,
    answer: `${scan.scanner}: ${scans}. ${security}; ${events}.`,
    source: `${scan.scanner}${targets ? ` on ${targets}` : ''}; ${factsSource}`,
  };
}

/**
 * "How can monitoring be improved?": which services have no metrics source in an environment (from the worker's
 * config), and how many of the day's analysis samples proved nothing.
 */
export function monitoringAnswer(day: DerivedFigures, measures: ReviewMeasures | null): ReviewAnswer {
  const question = 'How can monitoring be improved?';
  const changes = day.promoted + day.rolledBack + day.failed;
  const noisy = day.inconclusiveSamples + day.unmeasuredSamples;
  const samples =
    noisy > 0
      ? `${day.inconclusiveSamples} inconclusive and ${day.unmeasuredSamples} unmeasured analysis samples: ` +
        'the canary saw too little traffic or the metrics source did not answer'
      : changes > 0
        ? 'every analysis sample was conclusive'
        : 'no analysis ran';
  const coverage = measures?.monitoring;
  const samplesSource = "the day's analysis samples";
  if (!coverage) {
    return {
      question,
      status: noisy > 0 ? 'attention' : changes > 0 ? 'met' : 'no-data',
      answer: `Metrics sources not measured (${measures ? 'the worker was given no opsflow.yaml' : 'no check by the worker reached this answer'}); ${samples}.`,
      source: samplesSource,
    };
  }
  const lacking = coverage.filter((c) => c.provider === null);
  const sources = [...new Set(coverage.filter((c) => c.provider !== null).map((c) => c.detail))];
  const sourcesText = lacking.length
    ? `No metrics source for ${lacking.map((c) => `${c.service} in ${c.environment} (${c.detail})`).join('; ')}`
    : `Every service has a metrics source (${sources.join('; ') || 'none listed'})`;
  return {
    question,
    status: lacking.length > 0 || noisy > 0 ? 'attention' : 'met',
    answer: `${sourcesText}; ${samples}.`,
    source: `${measures.configPath ?? "the worker's opsflow.yaml"} (analysis.provider per environment); ${samplesSource}`,
  };
}

/**
 * The improvement items what the worker measured opens: `vulnerabilities` while a scan finds any, `metrics-source`
 * while a service has no metrics source somewhere. `remeasured`: the keys this review measured again (only those
 * may close).
 */
export function measuredImprovements(measures: ReviewMeasures | null): {
  keys: ReadonlySet<string>;
  wanted: Map<string, string>;
  remeasured: Set<string>;
} {
  const wanted = new Map<string, string>();
  const remeasured = new Set<string>();
  const scans = measures?.vulnerabilities?.scans.filter((s) => s.counts);
  if (scans?.length) {
    remeasured.add('vulnerabilities');
    const vulnerable = scans.filter((s) => s.counts && total(s.counts) > 0);
    if (vulnerable.length) {
      wanted.set(
        'vulnerabilities',
        `${measures?.vulnerabilities?.scanner} finds known vulnerabilities in ` +
          `${vulnerable.map((s) => `${s.service} (${countsText(s.counts ?? emptyCounts())})`).join(', ')}: ` +
          'update the dependencies and deploy the fix.',
      );
    }
  }
  const coverage = measures?.monitoring;
  if (coverage) {
    remeasured.add('metrics-source');
    const lacking = coverage.filter((c) => c.provider === null);
    if (lacking.length) {
      wanted.set(
        'metrics-source',
        `No metrics source for ${lacking.map((c) => `${c.service} in ${c.environment}`).join(', ')}: ` +
          "set the environment's analysis.provider to one that measures the service's target.",
      );
    }
  }
  return { keys: MEASURED_KEYS, wanted, remeasured };
}

const MEASURED_KEYS: ReadonlySet<string> = new Set(['vulnerabilities', 'metrics-source']);

/** No vulnerability of any severity. */
export function emptyCounts(): Record<VulnerabilitySeverity, number> {
  return { critical: 0, high: 0, moderate: 0, low: 0, info: 0, unknown: 0 };
}
