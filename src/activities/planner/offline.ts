import type { DeployInput, EnvironmentPlan, Plan } from '../../shared/deploy';
import { formatDuration } from '../../shared/duration';
import { clampPlan } from '../../shared/plan-clamp';
import type { RecentDeploy } from './history';

/** What the planner knows besides the request itself. */
export interface PlanContext {
  input: DeployInput;
  /** The version each environment runs now. */
  currentVersions: Record<string, string>;
  /** plan.md from the handoff folder, when the orchestrator left one. */
  handoffPlan?: { path: string; text: string };
  /** The service's earlier deploys, newest first (from their report.json files). */
  history?: RecentDeploy[];
}

type Risk = Plan['risk'];

const RISKY_WORDS = /\b(migration|migrate|schema|breaking|rewrite|database|data loss|irreversible)\b/i;
const RISK_ORDER: Risk[] = ['low', 'medium', 'high'];
/** Deploys of the service the change failure rate is taken over. */
const HISTORY_WINDOW = 5;

function semverParts(version: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.+-]/).map(Number);
  return [major, minor, patch];
}

function raise(risk: Risk, to?: Risk): Risk {
  if (to) return RISK_ORDER.indexOf(to) > RISK_ORDER.indexOf(risk) ? to : risk;
  return RISK_ORDER[Math.min(RISK_ORDER.indexOf(risk) + 1, 2)] ?? 'high';
}

/** The higher of two risks. */
export function higherRisk(a: Risk, b: Risk): Risk {
  return raise(a, b);
}

/** Risk from the size of the version change: a major bump or a downgrade is high, a minor medium, a patch low. */
export function changeRisk(from: string | undefined, to: string): { risk: Risk; why: string } {
  if (!from) return { risk: 'medium', why: 'first deploy of this service' };
  if (from === to) return { risk: 'low', why: `${to} already runs: a redeploy` };
  const [a, b] = [semverParts(from), semverParts(to)];
  if (b[0] < a[0] || (b[0] === a[0] && (b[1] < a[1] || (b[1] === a[1] && b[2] < a[2])))) {
    return { risk: 'high', why: `${from} → ${to} is a downgrade` };
  }
  if (b[0] !== a[0]) return { risk: 'high', why: `${from} → ${to} is a major change` };
  if (b[1] !== a[1]) return { risk: 'medium', why: `${from} → ${to} is a minor change` };
  return { risk: 'low', why: `${from} → ${to} is a patch` };
}

/** Risk of the change with its reasons: version change, plan.md hints, and the service's recent rollbacks. */
export function assessRisk(context: PlanContext): { risk: Risk; reasons: string[]; questions: string[] } {
  const { input, currentVersions, handoffPlan, history = [] } = context;
  const production = input.environments[input.environments.length - 1];
  const base = changeRisk(production ? currentVersions[production.name] : undefined, input.version);
  let risk = base.risk;
  const reasons = [base.why];
  const questions: string[] = [];
  const hint = handoffPlan ? RISKY_WORDS.exec(handoffPlan.text) : null;
  if (hint) {
    risk = raise(risk);
    reasons.push(`plan.md mentions ${hint[0]}`);
  }
  const sameVersion = history.find((d) => d.version === input.version && d.outcome === 'rolled-back');
  if (sameVersion) {
    risk = raise(risk, 'high');
    reasons.push(`${input.version} was rolled back on ${sameVersion.endedAt.slice(0, 10)} (${sameVersion.reason})`);
    questions.push(`${input.version} was rolled back before: what changed since ${sameVersion.deployId}?`);
  }
  const window = history.slice(0, HISTORY_WINDOW);
  const rolledBack = window.filter((d) => d.outcome === 'rolled-back').length;
  if (rolledBack >= 2) {
    risk = raise(risk);
    reasons.push(`${rolledBack} of ${input.service}'s last ${window.length} deploys rolled back`);
  }
  return { risk, reasons, questions };
}

/**
 * The rollout a risk calls for, never looser than configured: a high-risk change bakes twice as long at
 * every canary step and verifies twice as long, so a slow-burning fault has time to show. Weights stay
 * as configured, so the traffic exposed at each step is what operators expect.
 */
export function scheduleForRisk(environments: EnvironmentPlan[], risk: Risk): EnvironmentPlan[] {
  if (risk !== 'high') return environments;
  return environments.map((env) => ({
    ...env,
    steps: env.steps.map((s) => ({ weight: s.weight, bake: s.bake * 2 })),
    verifyMs: env.verifyMs * 2,
  }));
}

/** One line per environment: the analysis that decides promotion or rollback. */
export function describeChecks(environments: EnvironmentPlan[]): string[] {
  return environments.map((env) => {
    const a = env.analysis;
    return (
      `${env.name}: every ${formatDuration(a.interval)}, error rate warn > ${round(a.errorRate.warn * 100)} % / critical > ` +
      `${round(a.errorRate.critical * 100)} %, p95 warn > ${formatDuration(a.latencyP95.warn)} / critical > ` +
      `${formatDuration(a.latencyP95.critical)}, at least ${a.minRequests} requests per sample`
    );
  });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The steps of the rollout as a person reads them, from the effective environments. */
export function describeSteps(
  environments: EnvironmentPlan[],
  version: string,
  currentVersions: Record<string, string>,
): Plan['steps'] {
  return environments.flatMap((env) => {
    const from = currentVersions[env.name] ?? 'nothing';
    const out: Plan['steps'] = [];
    if (env.approval.required) {
      out.push({
        environment: env.name,
        action: `wait up to ${formatDuration(env.approval.timeoutMs)} for approval by ${env.approval.approvers.join(' or ')}`,
      });
    }
    if (env.strategy === 'canary') {
      const ramp = env.steps.map((s) => `${s.weight} % for ${formatDuration(s.bake)}`).join(' → ');
      out.push({ environment: env.name, action: `canary beside ${from}: ${ramp}, then promote` });
    } else if (env.strategy === 'direct') {
      out.push({
        environment: env.name,
        action: `replace ${from} with ${version}, verify for ${formatDuration(env.verifyMs)}`,
      });
    } else {
      out.push({
        environment: env.name,
        action: `${env.strategy}: ${version} beside ${from}, verify for ${formatDuration(env.verifyMs)}, then switch`,
      });
    }
    return out;
  });
}

/** What happens when the analysis fails, in words, naming what keeps serving. */
export function describeRollback(currentVersions: Record<string, string>): string {
  const serving =
    Object.entries(currentVersions)
      .map(([env, v]) => `${env} on ${v}`)
      .join(', ') || 'the previous version';
  return (
    'A critical sample, or a canary that cannot be measured, sets canary traffic to 0 % at once, stops the new ' +
    `release and leaves ${serving} serving.`
  );
}

/**
 * The offline planner: deterministic, no network. Judges risk from the version change, the handoff
 * plan's hints and the service's recent rollbacks; the risk decides the schedule (clamped against the
 * configuration), the checks and the rollback plan.
 */
export function offlinePlan(context: PlanContext): Plan {
  const { input, currentVersions, handoffPlan } = context;
  const { risk, reasons, questions } = assessRisk(context);
  const { environments, adjustments } = clampPlan(input.environments, scheduleForRisk(input.environments, risk));
  const production = input.environments[input.environments.length - 1];

  if (risk === 'high') {
    questions.push('High risk: is a person watching the canary, and is the rollback plan rehearsed?');
    reasons.push('bakes and verification doubled');
  }
  if (!currentVersions[production?.name ?? '']) questions.push('Nothing runs in production yet: what is the baseline?');

  return {
    source: handoffPlan ? 'handoff' : 'offline',
    risk,
    rationale: reasons.join('; '),
    currentVersions,
    steps: describeSteps(environments, input.version, currentVersions),
    checks: describeChecks(environments),
    rollbackPlan: describeRollback(currentVersions),
    questions,
    ...(handoffPlan ? { handoffPlanPath: handoffPlan.path } : {}),
    environments,
    ...(adjustments.length ? { adjustments } : {}),
  };
}
