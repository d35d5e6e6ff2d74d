/**
 * Events of the catalogue for channel tests, each checked by its schema: a deploy of hello 1.2.0 to production in the
 * project `shop`, with the deploy workflow's id shape (`<workflow id>/<run id>/<sequence>`).
 */
import { opsEventSchema, type EventType, type OpsEvent } from '../../src/shared/notify/events';

export const DEPLOY_ID = 'deploy-hello-1.2.0-production';
export const UI_URL = `http://localhost:8233/namespaces/default/workflows/${DEPLOY_ID}/run-1/history`;

let sequence = 0;

const DEPLOY = {
  time: '2026-12-07T16:20:00.000Z',
  project: 'shop',
  severity: 'info',
  uiUrl: UI_URL,
  deployId: DEPLOY_ID,
  service: 'hello',
  version: '1.2.0',
  environment: 'production',
  requestedBy: 'carol',
};

/** The fields each type needs beyond the deploy's, in their usual form. */
const FIELDS: { [T in EventType]: Record<string, unknown> } = {
  'deploy.started': { environments: ['staging', 'production'], environment: undefined },
  'approval.requested': { approvers: ['alice', 'bob'], required: 1, deadline: '2026-12-08T16:20:00.000Z' },
  'approval.reminder': {
    approvers: ['alice', 'bob'],
    level: 1,
    waitingMs: 1_800_000,
    deadline: '2026-12-08T16:20:00.000Z',
  },
  'approval.decided': { decision: 'approved', by: 'alice', approvals: 1, required: 1 },
  'canary.paused': {
    cause: 'inconclusive',
    by: 'opsflow',
    reason: 'too few requests to judge',
    deadline: '2026-12-07T16:50:00.000Z',
  },
  'canary.step-passed': { step: 1, steps: 3, weight: 10 },
  'cost.increase': {
    severity: 'warning',
    weight: 50,
    canaryPer1k: 0.0031,
    stablePer1k: 0.0022,
    increase: 0.41,
    limit: 0.2,
    currency: 'USD',
    source: 'usage × price sheet (Prometheus), USD',
    action: 'alert',
  },
  'deploy.rolled-back': {
    severity: 'critical',
    cause: 'critical',
    reason: 'error rate 12 % above the critical 5 %',
    timeToRestoreMs: 850,
    restored: false,
  },
  'deploy.promoted': { environments: ['staging', 'production'], environment: undefined },
  'deploy.failed': { severity: 'critical', reason: 'the target did not start 1.2.0' },
  'deploy.cancelled': { reason: 'cancelled by carol' },
  'freeze.waiting': { freeze: 'holidays', until: '2027-01-02T00:00:00.000Z' },
  'freeze.changed': {
    severity: 'warning',
    change: 'started',
    freezeId: 'incident-1',
    environment: 'production',
    reason: 'payments outage',
    by: 'alice',
  },
  'agent.review': {
    day: '2026-12-07',
    path: '.opsflow/reviews/2026-12-07.md',
    summary: '3 deploys, 1 rollback',
  },
  'agent.escalation': {
    severity: 'critical',
    kind: 'outage',
    summary: 'hello answers 503 to every request',
    source: 'platform',
  },
};

/** An event of `type` with a fresh id, its usual fields and `overrides`; agent events carry no deploy fields. */
export function opsEvent<T extends EventType>(
  type: T,
  overrides: Record<string, unknown> = {},
): Extract<OpsEvent, { type: T }> {
  sequence += 1;
  const agent = type.startsWith('agent.') || type === 'freeze.changed';
  const base = agent ? { time: DEPLOY.time, project: DEPLOY.project, severity: 'info' } : DEPLOY;
  const id = agent ? `agent-shop/run-9/${sequence}` : `${DEPLOY_ID}/run-1/${sequence}`;
  const fields = Object.fromEntries(
    Object.entries({ ...base, id, type, ...FIELDS[type], ...overrides }).filter(([, v]) => v !== undefined),
  );
  return opsEventSchema.parse(fields) as Extract<OpsEvent, { type: T }>;
}
