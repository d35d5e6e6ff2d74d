import type { DeployInput, Plan } from '../../shared/deploy';
import { formatDuration } from '../../shared/duration';

/** What the planner knows besides the request itself. */
export interface PlanContext {
  input: DeployInput;
  /** The version each environment runs now. */
  currentVersions: Record<string, string>;
  /** plan.md from the handoff folder, when the orchestrator left one. */
  handoffPlan?: { path: string; text: string };
}

type Risk = Plan['risk'];

const RISKY_WORDS = /\b(migration|migrate|schema|breaking|rewrite|database|data loss|irreversible)\b/i;
const RISK_ORDER: Risk[] = ['low', 'medium', 'high'];

function semverParts(version: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.+-]/).map(Number);
  return [major, minor, patch];
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

/**
 * The offline planner: deterministic, no network. Judges risk from the version change and the
 * handoff plan's hints, and lays out the rollout, the checks and the rollback plan from the config.
 */
export function offlinePlan(context: PlanContext): Plan {
  const { input, currentVersions, handoffPlan } = context;
  const production = input.environments[input.environments.length - 1];
  const base = changeRisk(production ? currentVersions[production.name] : undefined, input.version);
  let risk = base.risk;
  const reasons = [base.why];
  if (handoffPlan && RISKY_WORDS.test(handoffPlan.text)) {
    risk = RISK_ORDER[Math.min(RISK_ORDER.indexOf(risk) + 1, 2)] ?? 'high';
    reasons.push(`plan.md mentions ${RISKY_WORDS.exec(handoffPlan.text)?.[0]}`);
  }

  const steps = input.environments.flatMap((env) => {
    const from = currentVersions[env.name] ?? 'nothing';
    const out: Plan['steps'] = [];
    if (env.approval.required) {
      out.push({
        environment: env.name,
        action: `wait up to ${formatDuration(env.approval.timeoutMs)} for approval by ${env.approval.approvers.join(' or ')}`,
      });
    }
    if (env.strategy === 'direct') {
      out.push({
        environment: env.name,
        action: `replace ${from} with ${input.version}, verify for ${formatDuration(env.verifyMs)}`,
      });
    } else {
      const ramp = env.steps.map((s) => `${s.weight} % for ${formatDuration(s.bake)}`).join(' → ');
      out.push({ environment: env.name, action: `canary beside ${from}: ${ramp}, then promote` });
    }
    return out;
  });

  const checks = input.environments.map((env) => {
    const a = env.analysis;
    return (
      `${env.name}: every ${formatDuration(a.interval)}, error rate warn > ${a.errorRate.warn * 100} % / critical > ` +
      `${a.errorRate.critical * 100} %, p95 warn > ${formatDuration(a.latencyP95.warn)} / critical > ` +
      `${formatDuration(a.latencyP95.critical)}, at least ${a.minRequests} requests per sample`
    );
  });

  const questions: string[] = [];
  if (risk === 'high')
    questions.push('High risk: is a person watching the canary, and is the rollback plan rehearsed?');
  if (!currentVersions[production?.name ?? '']) questions.push('Nothing runs in production yet: what is the baseline?');

  return {
    source: handoffPlan ? 'handoff' : 'offline',
    risk,
    rationale: reasons.join('; '),
    currentVersions,
    steps,
    checks,
    rollbackPlan:
      'A critical sample, or a canary that cannot be measured, sets canary traffic to 0 % at once, stops the new ' +
      `release and leaves ${
        Object.entries(currentVersions)
          .map(([env, v]) => `${env} on ${v}`)
          .join(', ') || 'the previous version'
      } serving.`,
    questions,
    ...(handoffPlan ? { handoffPlanPath: handoffPlan.path } : {}),
  };
}
