// OPERATIONS.md, second part: monitoring, KPIs with the DORA figures, alerting and channels, security and the policy.
import { environmentRules, policyConfigSchema } from '../../config/policy';
import { routesOf, type RouteConfig } from '../../config/notifications';
import { countsText, minutes, percent } from '../../shared/agent';
import { SCANNERS } from '../security/registry';
import { DEFAULT_INCIDENT_BREAK_GLASS, type EnvironmentPolicy, type Who } from '../../shared/deploy/policy';
import { safeLink } from '../../shared/markdown';
import { providerOf } from './render-delivery';
import { channelFacts, known } from './sources';
import { code, duration, environmentsOf, missingSource, names, noSource, ratio, source, text } from './text';
import type { AgentFacts, ConfigFacts, Missing, OperationsInput } from './types';

const FILL_CONFIG = "the project's opsflow.yaml would fill it";
const FILL_AGENT =
  "the ops agent's figures would fill it (they come with its next self-review, or from opsflow docs operations while it runs)";

/** Monitoring & Observability, Key Performance Indicators, Alerting Configuration, Security & Compliance. */
export function runSections(input: OperationsInput): string[] {
  return [
    ...monitoring(input.config),
    ...indicators(input.config, input.agent),
    ...alerting(input.config),
    ...security(input.config, input.agent),
  ];
}

function monitoring(facts: ConfigFacts | Missing): string[] {
  const lines = ['## Monitoring & Observability', '', '### Application Monitoring', ''];
  if (!known(facts)) lines.push(missingSource(facts, FILL_CONFIG), '');
  else {
    const { config, path } = facts;
    const envs = environmentsOf(config);
    const p99 = envs.some((e) => e.env.analysis.latencyP99);
    const custom = [...new Set(envs.flatMap((e) => e.env.analysis.custom.map((c) => c.name)))];
    const ui = safeLink(config.temporal.uiUrl);
    lines.push(
      source(`${code(path)}: environments.\\*.analysis, metrics, temporal.uiUrl`),
      '',
      `- **APM Tool**: no APM; each release is measured by canary analysis: ` +
        envs.map(({ name, env }) => `${text(name)} from ${providerOf(config, env)}`).join('; '),
      `- **Metrics**: requests, error rate and p95 latency per version${p99 ? ', p99 latency' : ''}` +
        `${custom.length ? `, and ${names(custom)}` : ''}, each compared with the stable version over the same window`,
      "- **Logs**: opsflow's own as JSON lines in `.opsflow/logs/worker.log`, with workflow, run and activity ids; " +
        `the services' logs: ${noSource("the platform's log store would fill it")}`,
      `- **Tracing**: each deploy's history is in Temporal${ui ? ` ([Temporal UI](${ui}))` : ''}; distributed tracing: ` +
        noSource("the services' tracer would fill it"),
      '',
    );
  }
  lines.push(
    '### Infrastructure Monitoring',
    '',
    `- **Server Metrics**: ${noSource('opsflow reads no CPU, memory or disk figures: an infrastructure metrics source would fill it')}`,
    `- **Database Metrics**: ${noSource('opsflow reads no database: its own monitoring would fill it')}`,
    known(facts)
      ? '- **Network Metrics**: response times, error rates and request counts of every version, sampled during each ' +
          'deploy (see the environments above)'
      : `- **Network Metrics**: ${missingSource(facts, FILL_CONFIG)}`,
    `- **Security Metrics**: ${noSource("the self-review's security answer from a scanner and opsflow's refused forgeries would fill it (issue 22, item 4)")}`,
    '',
  );
  return lines;
}

/** The DORA figures and the others the agent keeps, against its targets. */
function doraTable(agent: AgentFacts): string[] {
  const t = agent.total;
  const opt = (ms: number | null) => (ms === null ? '–' : minutes(ms));
  const rows: [string, string, string][] = [
    ['deployment frequency', `${agent.deploysPerDay} promoted deploys per day`, '–'],
    ['lead time (request → promoted, mean)', opt(t.meanLeadTimeMs), '–'],
    ['change failure rate', t.changeFailureRate === null ? '–' : percent(t.changeFailureRate), '–'],
    ['time to restore (mean)', opt(t.meanRestoreMs), `≤ ${minutes(agent.targets.timeToRestore)}`],
    [
      'deployment success rate',
      t.successRate === null ? '–' : percent(t.successRate),
      `≥ ${percent(agent.targets.successRate)} (floor ${percent(agent.targets.successRateFloor)})`,
    ],
    [
      'pipeline time (mean, without the wait for approval)',
      opt(t.meanPipelineMs),
      `≤ ${minutes(agent.targets.deployDuration)}`,
    ],
    [
      'deployments (promoted / rolled back / failed / cancelled)',
      `${t.deploys} (${t.promoted} / ${t.rolledBack} / ${t.failed} / ${t.cancelled})`,
      '–',
    ],
  ];
  return ['| figure | value | target |', '| --- | ---: | ---: |', ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function indicators(facts: ConfigFacts | Missing, agent: AgentFacts | Missing): string[] {
  const lines = ['### Key Performance Indicators', '', '#### Application KPIs', ''];
  if (!known(facts)) lines.push(missingSource(facts, FILL_CONFIG), '');
  else {
    const envs = environmentsOf(facts.config);
    lines.push(
      source(`${code(facts.path)}: environments.\\*.analysis`),
      '',
      `- **Availability**: ${noSource('opsflow does not measure uptime: an uptime check would fill it')}`,
      '- **Response Time**: p95 ' +
        envs
          .map(
            ({ name, env }) =>
              `${text(name)} warn > ${duration(env.analysis.latencyP95.warn)}, critical > ${duration(env.analysis.latencyP95.critical)}`,
          )
          .join('; '),
      '- **Error Rate**: ' +
        envs
          .map(
            ({ name, env }) =>
              `${text(name)} warn > ${ratio(env.analysis.errorRate.warn)}, critical > ${ratio(env.analysis.errorRate.critical)}`,
          )
          .join('; '),
      '- **Throughput**: at least ' +
        envs.map(({ name, env }) => `${env.analysis.minRequests} requests per sample in ${text(name)}`).join(', ') +
        ' for a sample to count',
      '',
    );
  }
  lines.push('#### Delivery KPIs (DORA)', '');
  if (!known(agent)) lines.push(missingSource(agent, FILL_AGENT), '');
  else {
    lines.push(source(`${text(agent.source)}, as of ${agent.asOf}`), '', ...doraTable(agent), '');
  }
  lines.push(
    '#### Business KPIs',
    '',
    noSource('opsflow measures releases, not users: a product analytics source would fill it'),
    '',
  );
  return lines;
}

/** Which events and environments a channel hears of, from the routes in force. */
function routedTo(routes: readonly RouteConfig[], channel: string): string {
  const mine = routes.filter((r) => r.channels.includes(channel));
  if (mine.length === 0) return 'nothing (no route names it)';
  return mine
    .map(
      (r) =>
        `${r.events ? r.events.map(code).join(', ') : 'every event'} for ` +
        `${r.environments ? names(r.environments) : 'every environment'}` +
        (r.services ? ` (services ${names(r.services)})` : ''),
    )
    .join('; ');
}

function alerting(facts: ConfigFacts | Missing): string[] {
  const lines = ['## Alerting Configuration', ''];
  if (!known(facts)) {
    for (const h of [
      '### Critical Alerts (Immediate Response)',
      '### Warning Alerts (Business Hours Response)',
      '### Alert Channels',
    ]) {
      lines.push(h, '', missingSource(facts, FILL_CONFIG), '');
    }
    return lines;
  }
  const { config, path } = facts;
  const envs = environmentsOf(config);
  const block = config.notifications;
  lines.push(
    '### Critical Alerts (Immediate Response)',
    '',
    source(`${code(path)}: environments.\\*.analysis, policy`),
    '',
    ...envs.map(
      ({ name, env }) =>
        `- **${text(name)}**: error rate > ${ratio(env.analysis.errorRate.critical)} or p95 > ` +
        `${duration(env.analysis.latencyP95.critical)} in a sample: immediate rollback`,
    ),
    '- **Infrastructure events**: a critical event for a service (`opsflow agent event --severity critical`) aborts ' +
      'its running deploy; a critical incident freezes its environment until resolved, or until ' +
      `${config.policy?.incidentBreakGlass ?? DEFAULT_INCIDENT_BREAK_GLASS} approvers sign a break-glass override`,
    '',
    '### Warning Alerts (Business Hours Response)',
    '',
    source(`${code(path)}: environments.\\*.analysis`),
    '',
    ...envs.map(
      ({ name, env }) =>
        `- **${text(name)}**: error rate > ${ratio(env.analysis.errorRate.warn)} or p95 > ` +
        `${duration(env.analysis.latencyP95.warn)}: the sample is a warning in the deploy's status and summary; nobody is paged`,
    ),
    '',
    '### Alert Channels',
    '',
  );
  const channels = channelFacts(block);
  if (channels.length === 0) {
    lines.push(
      noSource(
        `no notifications.channels in ${code(path)}: events reach each deploy's timeline, status and report only; ` +
          "channels under the worker's notifications would fill it",
      ),
      '',
    );
    return lines;
  }
  const routes = block ? routesOf(block) : [];
  lines.push(
    source(`${code(path)}: notifications (credentials are named, never written)`),
    '',
    '| channel | kind | credential from | hears of |',
    '| --- | --- | --- | --- |',
    ...channels.map(
      (c) => `| ${text(c.name)} | ${text(c.kind)} | ${text(c.credential)} | ${routedTo(routes, c.name)} |`,
    ),
    '',
  );
  const escalation = Object.entries(block?.escalation ?? {});
  lines.push(
    ...(escalation.length
      ? escalation.map(
          ([env, e]) =>
            `- **Escalation in ${text(env)}**: ` +
            [
              e.approvalReminders.length
                ? `approval reminders after ${e.approvalReminders.map(duration).join(', ')} (the second and later are critical)`
                : 'no approval reminder',
              e.pauseAlertBefore
                ? `a paused canary alerts again as critical ${duration(e.pauseAlertBefore)} before its pause timeout`
                : 'no pause alert',
            ].join('; '),
        )
      : [
          '- **Escalation**: none configured (notifications.escalation); a critical infrastructure event is sent as agent.escalation',
        ]),
    '',
  );
  return lines;
}

const who = (w: Who) => (typeof w === 'string' ? w : names(w));

/** The policy's rule per environment, as a table. */
function policyTable(rules: Record<string, EnvironmentPolicy>, order: string[]): string[] {
  return [
    '| environment | protected | approvers | needed | groups | self-approval | timeout | signed | signed start | pause / resume / promote / abort |',
    '| --- | --- | --- | ---: | --- | --- | --- | --- | --- | --- |',
    ...order.flatMap((name) => {
      const r = rules[name];
      if (!r) return [];
      const c = r.controls;
      return [
        `| ${text(name)} | ${r.protected ? 'yes' : 'no'} | ${names(r.approvers)} | ${r.protected ? r.required : 0} | ` +
          `${names(r.requireGroups)} | ${r.allowSelfApproval ? 'allowed' : 'refused'} | ${duration(r.timeoutMs)} | ` +
          `${r.signed.join(', ') || 'none'} | ${r.signedStart ? 'yes' : 'no'} | ` +
          `${[c.pause, c.resume, c.promote, c.abort].map(who).join(' / ')} |`,
      ];
    }),
  ];
}

function security(facts: ConfigFacts | Missing, agent: AgentFacts | Missing): string[] {
  const lines = ['## Security & Compliance', '', '### Security Measures', ''];
  if (!known(facts)) lines.push(missingSource(facts, FILL_CONFIG), '');
  else {
    const { config, path } = facts;
    const block = config.policy ?? policyConfigSchema.parse({});
    const { environments: rules, defaults } = environmentRules(config);
    const people = Object.entries(block.people).map(
      ([name, p]) => `${text(name)}${p.groups.length ? ` (${names(p.groups)})` : ''}`,
    );
    const bridges = Object.entries(block.bridges).map(([name, b]) => `${text(name)} (${b.kind})`);
    lines.push(
      source(`${code(path)}: policy, environments.\\*.approval`),
      '',
      `- **Authentication**: ${
        block.trustTypedNames
          ? 'typed names count as identities (demo mode): no decision is signed'
          : 'every decision is a signed statement (ed25519), checked against the public keys in the policy'
      }; people: ${people.length ? people.join(', ') : 'none listed'}; chat bridges: ${bridges.length ? bridges.join(', ') : 'none'}`,
      '- **Access Control**: the worker enforces its own policy; a deploy request can tighten it, never loosen it',
      '',
      ...policyTable(
        rules,
        environmentsOf(config).map((e) => e.name),
      ),
      '',
      `- **Environments the config does not define**: ${defaults.protected && defaults.approvers.length === 0 ? 'refused (protected, nobody may approve)' : `policy.defaults: ${defaults.protected ? `${defaults.required} of ${names(defaults.approvers)}` : 'not protected'}`}`,
      `- **Freeze windows**: ${
        block.freezes.length
          ? block.freezes
              .map(
                (f) =>
                  `${text(f.name)} (${f.environments ? names(f.environments) : 'every protected environment'}; ` +
                  `${f.weekly ? `weekly ${f.weekly.days.join(', ')} ${f.weekly.from}–${f.weekly.to} ${text(f.weekly.timeZone)}` : `${text(f.from ?? '')} to ${text(f.to ?? '')}`}; ` +
                  `break glass: ${f.breakGlass} signed overrides)`,
              )
              .join('; ')
          : 'none'
      }`,
      "- **Secrets**: none in opsflow.yaml, workflow inputs or history; channels and LLM keys are read from the worker's " +
        'environment or files (see Alert Channels for which variables)',
      '',
    );
  }
  lines.push(
    '### Security Monitoring',
    '',
    `- **Vulnerability Scanning**: ${vulnerabilityScanning(facts, agent)}`,
    "- **Audit Logging**: every approval, control and refusal is in the deploy workflow's Temporal history; the agent " +
      'logs each deploy and review in `docs/operations/agent-log.jsonl`',
    `- **Compliance**: ${noSource("opsflow tracks no compliance regime: the team's own requirements would fill it")}`,
    '',
  );
  return lines;
}

/** What the worker scans for vulnerabilities (from the config) and what the last self-review's scan found. */
function vulnerabilityScanning(facts: ConfigFacts | Missing, agent: AgentFacts | Missing): string {
  const block = known(facts) ? facts.config.security : undefined;
  if (!known(facts) || !block) {
    return noSource(
      'a `security` block in opsflow.yaml (scanner: npm-audit or osv-scanner, and what each service deploys) would ' +
        'fill it; the self-review answers "not measured" until then',
    );
  }
  const subjects = Object.entries(block.services).map(
    ([service, s]) => `${text(service)}: ${code(s.lockfile ?? s.image ?? '')}`,
  );
  const scanned = `${SCANNERS[block.scanner].label}, run by the worker for each self-review on ${subjects.join(', ') || 'no service'} (${code(facts.path)})`;
  const scans = known(agent) ? agent.measures?.vulnerabilities?.scans : undefined;
  if (!scans || !known(agent)) return `${scanned}; no scan result in this version`;
  const results = scans.map(
    (r) => `${text(r.service)} ${r.counts ? countsText(r.counts) : `no answer (${text(r.error ?? 'unknown')})`}`,
  );
  return `${scanned}; ${text(agent.source)} found: ${results.join('; ')}`;
}
