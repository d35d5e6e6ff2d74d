// OPERATIONS.md, last part: recovery, incidents, performance, cost, runbooks, quality gates, improvements, changelog.
import { minutes, reviewAnswers } from '../../shared/agent';
import { CAUSE_CHECKS } from '../agent/post-mortem';
import { STATUS_MARK } from '../agent/review';
import { known } from './sources';
import { code, duration, environmentsOf, failoverOf, missingSource, noSource, source, text } from './text';
import type { AgentFacts, ConfigFacts, DeployLogFacts, LoggedDeploy, Missing, OperationsInput } from './types';

const FILL_CONFIG = "the project's opsflow.yaml would fill it";
const FILL_AGENT = "the ops agent's next self-review would fill it";
const FILL_LOG = "the agent's feedback loop fills it after each deploy it runs";

/** How many post-mortems and changelog entries are listed; older ones stay in docs/incidents/ and the log. */
const LISTED = 20;

/** A link to a file under the workdir's docs/ (its path checked by the caller), from where the document lies. */
function docLink(base: string, file: string): string {
  const inDocs = file.replace(/^docs\//, '');
  return base ? `${base.replace(/\/$/, '')}/${inDocs}` : inDocs;
}

/** A self-review's path as the agent writes it; anything else the state says is not linked. */
const SELF_REVIEW = /^docs\/operations\/self-review\/[A-Za-z0-9._-]+\.md$/;

/** Backup & Disaster Recovery through Changelog. */
export function recoverySections(input: OperationsInput): string[] {
  return [
    ...recovery(input.config, input.agent),
    ...incidents(input.config, input.log),
    ...performance(),
    ...cost(),
    ...runbooks(input.config, input.agent, input.log, input.linkBase),
    ...gates(input.agent),
    ...improvements(input.agent),
    ...changelog(input.log),
  ];
}

function recovery(facts: ConfigFacts | Missing, agent: AgentFacts | Missing): string[] {
  const lines = [
    '## Backup & Disaster Recovery',
    '',
    '### Backup Strategy',
    '',
    noSource("opsflow backs nothing up: the backup system's schedule and retention would fill it"),
    '',
    '### Disaster Recovery Plan',
    '',
  ];
  if (!known(facts)) lines.push(missingSource(facts, FILL_CONFIG), '');
  else {
    const measured =
      known(agent) && agent.total.meanRestoreMs !== null ? `; measured mean ${minutes(agent.total.meanRestoreMs)}` : '';
    lines.push(
      source(
        `${code(facts.path)}: agent.targets, environments, notifications${known(agent) ? `; ${text(agent.source)}` : ''}`,
      ),
      '',
      `- **RTO (Recovery Time Objective)**: ${minutes(facts.config.agent.targets.timeToRestore)} from a bad release's ` +
        `first unhealthy sample to its traffic at 0 %${measured}`,
      `- **RPO (Recovery Point Objective)**: ${noSource('opsflow holds no data of the services: their backups would fill it')}`,
      '- **Failover Strategy**: ' +
        environmentsOf(facts.config)
          .map(({ name, env }) => `${text(name)}: ${failoverOf(env)}`)
          .join('; '),
      `- **Communication Plan**: ${
        Object.keys(facts.config.notifications?.channels ?? {}).length
          ? 'the rollback is sent at once to the channels under Alert Channels'
          : "each deploy's timeline, status and report (no notification channel is configured)"
      }`,
      '',
    );
  }
  lines.push(
    '### Recovery Procedures',
    '',
    source("opsflow's deploy workflow and ops agent"),
    '',
    "1. **Assess Impact**: the analysis' verdicts name the failing checks; the post-mortem leads with traffic share, " +
      'errors and time to restore',
    '2. **Activate Team**: the rollback and critical events go to the routed channels; a critical incident freezes its environment',
    '3. **Implement Fix**: automated rollback, canary traffic to 0 % first, then the new release stopped',
    '4. **Monitor Recovery**: the stable version is verified after the rollback',
    '5. **Post-Incident Review**: a blameless post-mortem in `docs/incidents/`, and a runbook note when a cause repeats',
    '',
  );
  return lines;
}

const postMortems = (log: DeployLogFacts) => log.deploys.filter((d) => d.postMortem !== null);

function incidents(facts: ConfigFacts | Missing, log: DeployLogFacts | Missing): string[] {
  const written = known(log) ? `${postMortems(log).length} written so far` : 'none logged here yet';
  const interval = known(facts)
    ? environmentsOf(facts.config)
        .map(({ name, env }) => `${text(name)} every ${duration(env.analysis.interval)}`)
        .join(', ')
    : "at each environment's analysis interval";
  return [
    '## Incident Response',
    '',
    '### Incident Classification',
    '',
    source("the ops agent's event severities (opsflow agent event --severity) and the canary analysis' verdicts"),
    '',
    "- **P1 Critical**: a critical sample (immediate rollback) or a critical infrastructure event (the service's " +
      'running deploy aborted, an incident freezes its environment, agent.escalation sent)',
    '- **P2 High**: a rollback on a failure budget, a failing step, or an unanswered pause',
    '- **P3 Medium**: a warning sample or a warning event: recorded in status and the self-review',
    `- **P4 Low**: ${noSource('opsflow does not classify requests or cosmetic issues: the issue tracker would fill it')}`,
    '',
    '### Response Procedures',
    '',
    '#### P1 Critical Incident Response',
    '',
    source(`the deploy workflow and the ops agent${known(log) ? `; ${code(log.path)}` : ''}`),
    '',
    `1. **Detection**: canary analysis (${interval}) and infrastructure events sent to the agent`,
    "2. **Assessment**: the failing checks of the sample or the step window, in the deploy's status",
    '3. **Response**: automated rollback or abort; an incident freeze holds the environment',
    '4. **Resolution**: the stable version verified; a resolved event lifts the freeze',
    '5. **Recovery**: time to restore measured against the target (see Disaster Recovery Plan)',
    `6. **Post-Mortem**: \`docs/incidents/<date>-<service>-<version>.md\` for every rollback or failure (${written})`,
    '',
    '### Communication Plan',
    '',
    known(facts) && Object.keys(facts.config.notifications?.channels ?? {}).length
      ? '- **Internal**: the channels under Alert Channels, routed per event and environment\n' +
        `- **External**: ${noSource('no status page is configured')}\n` +
        '- **Updates**: every routed event as it happens\n' +
        '- **Resolution**: deploy.promoted, deploy.rolled-back and freeze.changed events'
      : noSource(
          "no notification channel is configured: notifications.channels in the worker's opsflow.yaml would fill it",
        ),
    '',
  ];
}

function performance(): string[] {
  return [
    '## Performance Optimization',
    '',
    '### Optimization Strategies',
    '',
    noSource("opsflow does not tune caching, queries or bundles: the services' own profiling would fill it"),
    '',
    '### Scaling Strategies',
    '',
    noSource(
      "opsflow does not scale services: the target's autoscaling would fill it (scale events can be recorded with opsflow agent event --type scale)",
    ),
    '',
  ];
}

function cost(): string[] {
  const none =
    "no cost source is configured, so no figure is given: a cost provider under the worker's config (issue 22, " +
    'items 1–3: OpenCost or Kubecost metrics, or a price sheet times a usage query) would fill it';
  return [
    '## Cost Management',
    '',
    '### Cost Monitoring',
    '',
    noSource(none),
    '',
    '### Cost Optimization',
    '',
    noSource('the same cost source would fill it; until then the self-review answers the cost question "not measured"'),
    '',
  ];
}

/** Post-mortems grouped by cause, each cause with what to check first. */
function incidentRunbooks(log: DeployLogFacts, base: string): string[] {
  const listed = postMortems(log).slice(-LISTED);
  if (listed.length === 0) {
    return ['- No post-mortem yet: the agent writes one under `docs/incidents/` for every rollback or failure.'];
  }
  const byCause = new Map<string, LoggedDeploy[]>();
  for (const d of listed) byCause.set(d.cause ?? 'other', [...(byCause.get(d.cause ?? 'other') ?? []), d]);
  const lines: string[] = [];
  for (const [cause, deploys] of byCause) {
    const check = Object.hasOwn(CAUSE_CHECKS, cause) ? CAUSE_CHECKS[cause] : CAUSE_CHECKS['other'];
    lines.push(
      `- **${text(cause)}** (${deploys.length}): ${text(check ?? '')}`,
      ...deploys.map((d) => {
        const file = d.postMortem ?? '';
        // The link is relative to docs/OPERATIONS.md; the path was checked to be docs/incidents/<name>.md.
        return `  - [${d.at.slice(0, 10)} ${text(d.service)} ${text(d.version)}](${docLink(base, file)}): ${d.outcome}`;
      }),
    );
  }
  return lines;
}

function runbooks(
  facts: ConfigFacts | Missing,
  agent: AgentFacts | Missing,
  log: DeployLogFacts | Missing,
  base: string,
): string[] {
  const lines = ['## Operational Runbooks', '', '### Daily Operations', ''];
  if (!known(facts)) lines.push(missingSource(facts, FILL_CONFIG), '');
  else {
    const last = known(agent) && agent.lastReview ? agent.lastReview : null;
    lines.push(
      source(`${code(facts.path)}: agent${known(agent) ? `; ${text(agent.source)}` : ''}`),
      '',
      `- The ops agent's self-review at ${facts.config.agent.reviewAt} UTC: \`docs/operations/self-review/<date>.md\`, ` +
        'this file refreshed, `docs/operations/files-changed.json`',
      last
        ? `- Last self-review: ${SELF_REVIEW.test(last.file) ? `[${text(last.date)}](${docLink(base, last.file)})` : text(last.date)}`
        : `- Last self-review: ${known(agent) ? 'none yet' : noSource(FILL_AGENT)}`,
      `- The agent ends after ${duration(facts.config.agent.idleTimeout)} without a deploy or an event, with a final report`,
      '',
    );
  }
  lines.push(
    '### Weekly Operations',
    '',
    noSource('the agent reviews daily only: a weekly cost report (issue 22, item 3) would be the first weekly task'),
    '',
    '### Monthly Operations',
    '',
    noSource("nothing in opsflow runs monthly: the team's own calendar would fill it"),
    '',
    '### Incident Runbooks',
    '',
  );
  if (!known(log)) lines.push(missingSource(log, FILL_LOG), '');
  else {
    lines.push(
      source(`${code(log.path)} (the post-mortems the feedback loop wrote) and what to check first for each cause`),
      '',
      ...(log.runbook ? [`- Notes for causes that repeat: [runbook](${docLink(base, log.runbook)})`] : []),
      ...incidentRunbooks(log, base),
      '',
    );
  }
  return lines;
}

function gates(agent: AgentFacts | Missing): string[] {
  const lines = ['## Quality Gates', ''];
  if (!known(agent)) return [...lines, missingSource(agent, FILL_AGENT), ''];
  const answers = reviewAnswers(agent.total, agent.targets, agent.improvements.length, agent.measures);
  return [
    ...lines,
    source(
      `${text(agent.source)}: the self-review's questions answered from all-time figures` +
        (agent.measures ? ' and what the worker measured for it' : ''),
    ),
    '',
    ...answers.map(
      (a) =>
        `- ${STATUS_MARK[a.status] ?? a.status}: ${text(a.question)} ${text(a.answer)}` +
        (a.source ? ` _(source: ${text(a.source)})_` : ''),
    ),
    '',
  ];
}

function improvements(agent: AgentFacts | Missing): string[] {
  const lines = ['## Improvement Items', ''];
  if (!known(agent)) return [...lines, missingSource(agent, FILL_AGENT), ''];
  return [
    ...lines,
    source(`${text(agent.source)}: the items its figures opened and not yet closed`),
    '',
    ...(agent.improvements.length
      ? agent.improvements.map((i) => `- **${text(i.key)}** (since ${i.openedAt.slice(0, 10)}): ${text(i.text)}`)
      : ['- none open']),
    ...(agent.improvementsClosed.length
      ? ['', `Closed by this review: ${agent.improvementsClosed.map(text).join(', ')}.`]
      : []),
    '',
  ];
}

function changelog(log: DeployLogFacts | Missing): string[] {
  const lines = ['## Changelog', ''];
  if (!known(log) || log.deploys.length === 0) {
    const why = known(log) ? { missing: 'no deploy logged yet' } : log;
    return [...lines, missingSource(why, FILL_LOG), ''];
  }
  return [
    ...lines,
    source(`${code(log.path)}: the deploys the agent ran, newest first`),
    '',
    ...log.deploys
      .slice(-LISTED)
      .reverse()
      .map(
        (d) =>
          `- ${d.at.slice(0, 10)} - ${text(d.service)} ${text(d.version)}: ${d.outcome}` +
          `${d.cause ? ` (${text(d.cause)})` : ''}${d.restoreMs !== null ? `, restored in ${minutes(d.restoreMs)}` : ''}`,
      ),
    '',
  ];
}
