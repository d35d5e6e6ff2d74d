// OPERATIONS.md, first part: deployment overview, infrastructure, environments, the CI/CD pipeline. From the config.
import { environmentRules } from '../../config/policy';
import type { EnvironmentConfig, OpsflowConfig, TargetConfig } from '../../config/schema';
import { MEASUREMENT_ERROR_DEFAULTS } from '../../shared/analysis-config';
import type { EnvironmentPolicy } from '../../shared/deploy/policy';
import { agentWorkflowId } from '../../shared/agent';
import {
  code,
  duration,
  environmentsOf,
  failoverOf,
  missingSource,
  names,
  noSource,
  ratio,
  source,
  stepsOf,
  text,
} from './text';
import { known } from './sources';
import type { ConfigFacts, OperationsInput } from './types';

const FILL_CONFIG = "the project's opsflow.yaml would fill it (opsflow docs operations --config <file>)";

/** Where one service runs in one environment, from its target's config. */
export function whereItRuns(config: OpsflowConfig, target: TargetConfig, environment: string): string {
  if (target.kind === 'local') {
    const { host, port } = config.platform.local;
    return `the local platform at ${code(`${host}:${port}`)} (real processes behind a weighted router)`;
  }
  if (target.kind === 'command') {
    return `command hooks the worker runs in ${code(target.cwd)} (start: ${code(target.start.argv[0] ?? '')})`;
  }
  if (target.kind === 'vercel') {
    const env = Object.hasOwn(target.environments, environment) ? target.environments[environment] : undefined;
    const project = `Vercel project ${code(target.project)} of ${code(target.team)}`;
    if (!env) return `${project}, with no entry for ${text(environment)} under its target`;
    if (env.release === 'alias')
      return `${project}: a deployment becomes ${text(environment)} by alias ${code(env.alias)}`;
    const how =
      env.release === 'rolling-release' ? 'a rolling release judged by opsflow' : 'promotion, instant rollback';
    return `${project}: production ${code(env.domain)} through ${how}`;
  }
  const env = Object.hasOwn(target.environments, environment) ? target.environments[environment] : undefined;
  if (!env) return `Kubernetes, with no entry for ${text(environment)} under its target`;
  const cluster = env.cluster ?? target.cluster;
  const where = cluster.inCluster
    ? 'in-cluster'
    : cluster.context
      ? `context ${code(cluster.context)}`
      : 'current context';
  const split = env.blueGreen
    ? `blue-green through Service ${code(env.blueGreen.activeService)}`
    : env.httpRoute
      ? `exact split on HTTPRoute ${code(env.httpRoute.name)}`
      : 'split by replica counts (approximate)';
  return `Kubernetes (${where}), namespace ${code(env.namespace)}, Deployment ${code(env.deployment)}, ${split}`;
}

/** Every service's target in one environment, one clause each. */
function targetsIn(config: OpsflowConfig, environment: string): string {
  return Object.entries(config.services)
    .map(([service, { target }]) => `${text(service)} on ${whereItRuns(config, target, environment)}`)
    .join('; ');
}

/** Where canary samples come from, for people. */
export function providerOf(config: OpsflowConfig, env: EnvironmentConfig): string {
  const provider = env.analysis.provider;
  if (provider === 'prometheus') {
    const url = config.metrics.prometheus?.url;
    // The origin only: a URL may carry a user and password.
    const origin = url ? new URL(url).origin : undefined;
    return origin ? `Prometheus at ${code(origin)}` : 'Prometheus';
  }
  if (provider === 'nginx-log') return "nginx's access log (metrics.nginxLog.path)";
  return "the local platform's per-version request figures";
}

/** An approval rule as one clause: automatic, or who must approve, how many, within what. */
export function approvalOf(rule: EnvironmentPolicy): string {
  if (!rule.protected) return 'automatic: no approval';
  if (rule.approvers.length === 0) return 'refused: protected, and nobody may approve it';
  const groups = rule.requireGroups.length ? `, including a member of ${names(rule.requireGroups)}` : '';
  const signed = rule.signed.includes('approve') ? 'signed' : 'typed';
  return (
    `manual approval required: ${rule.required} of ${names(rule.approvers)}${groups} (${signed}), ` +
    `within ${duration(rule.timeoutMs)}`
  );
}

/** One environment's table: what it runs, how, who approves, and the analysis that judges it. */
function environmentTable(config: OpsflowConfig, name: string, env: EnvironmentConfig, rule: EnvironmentPolicy) {
  const a = env.analysis;
  const rows: [string, string][] = [
    ['strategy', env.strategy],
    ['steps', stepsOf(env)],
    ['approval', approvalOf(rule)],
    ['approvers', rule.protected ? names(rule.approvers) : 'none'],
    ['targets', targetsIn(config, name)],
    ['analysis', `a sample every ${duration(a.interval)} from ${providerOf(config, env)}`],
    ['minimum requests', `${a.minRequests} per sample (fewer: inconclusive, never a success)`],
    ['error rate', `warn > ${ratio(a.errorRate.warn)}, critical > ${ratio(a.errorRate.critical)}`],
    ['p95 latency', `warn > ${duration(a.latencyP95.warn)}, critical > ${duration(a.latencyP95.critical)}`],
  ];
  if (a.latencyP99) {
    rows.push(['p99 latency', `warn > ${duration(a.latencyP99.warn)}, critical > ${duration(a.latencyP99.critical)}`]);
  }
  for (const c of a.custom) {
    rows.push([`${text(c.name)} (custom)`, `${c.direction}: warn ${c.warn}, critical ${c.critical}`]);
  }
  rows.push(
    [
      'against stable',
      a.compare.enabled
        ? `error rate up to +${ratio(a.compare.errorRateIncrease)}; p95 up to ${a.compare.latencyRatio}× or ` +
          `+${duration(a.compare.latencyIncrease)}`
        : 'not compared',
    ],
    [
      'failure budget',
      `${a.failureLimit} failing samples in the run or ${a.consecutiveFailureLimit} in a row roll back`,
    ],
    [
      'missing data',
      `${a.inconclusiveLimit} inconclusive samples in a row pause; a step without its requests by ` +
        `${a.maxBakeFactor}× its bake: ${a.onInconclusive}`,
    ],
    [
      'measurement errors',
      `${a.consecutiveErrorLimit ?? MEASUREMENT_ERROR_DEFAULTS.consecutiveErrorLimit} in a row: ` +
        `${a.onMeasurementErrors ?? MEASUREMENT_ERROR_DEFAULTS.onMeasurementErrors}`,
    ],
    ['step score', `pass ≥ ${a.score.pass}, marginal ≥ ${a.score.marginal}, below: rollback`],
    ['pause timeout', `${duration(env.pauseTimeout)}, then rollback`],
  );
  return ['| setting | value |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v} |`)];
}

/** The release pipeline as YAML, generated from the config (names are validated: nothing can leave the block). */
function pipelineYaml(config: OpsflowConfig, rules: Record<string, EnvironmentPolicy>): string[] {
  const lines = [
    '```yaml',
    `# generated from opsflow.yaml: the pipeline each deploy of ${config.project} follows`,
    'pipeline:',
  ];
  for (const { name, env } of environmentsOf(config).filter((e) => e.inPipeline)) {
    const rule = rules[name];
    lines.push(`  - environment: ${name}`, `    strategy: ${env.strategy}`);
    if (rule?.protected) lines.push(`    approval: { required: ${rule.required}, of: [${rule.approvers.join(', ')}] }`);
    if (env.strategy === 'canary') {
      lines.push(
        '    steps:',
        ...env.canary.steps.map((s) => `      - { weight: ${s.weight}, bake: ${duration(s.bake)} }`),
      );
    }
    lines.push(`    onFailure: rollback`);
  }
  lines.push('```');
  return lines;
}

/** Deployment Overview through CI/CD Pipeline. */
export function deliverySections(input: OperationsInput): string[] {
  const config = input.config;
  if (!known(config)) {
    const none = missingSource(config, FILL_CONFIG);
    const missing = (...headings: string[]) => headings.flatMap((h) => [h, '', none, '']);
    return [
      ...missing('## Deployment Overview', '## Infrastructure Architecture'),
      ...missing('### Production Environment', '### Environment Specifications'),
      '## CI/CD Pipeline',
      '',
      ...buildPipeline(),
      ...missing('### Deployment Strategy'),
    ];
  }
  return [...overview(input.project, config), ...infrastructure(config), ...pipeline(config)];
}

/** The build is not opsflow's: the one line that says what would fill it. */
function buildPipeline(): string[] {
  return [
    '### Build Pipeline',
    '',
    noSource(
      "opsflow starts from a built release and does not run the build: the CI system's workflow file would fill it " +
        "(opsflow's examples/github-actions/deploy.yml hands a release to opsflow deploy start)",
    ),
    '',
  ];
}

function overview(project: string, { config, path }: ConfigFacts): string[] {
  const envs = environmentsOf(config).filter((e) => e.inPipeline);
  const providers = envs.map(({ name, env }) => `${text(name)} from ${providerOf(config, env)}`);
  return [
    '## Deployment Overview',
    '',
    source(`${code(path)}: pipeline, environments, services, temporal`),
    '',
    `- **Deployment Strategy**: ${envs.map(({ name, env }) => `${text(name)}: ${env.strategy}`).join(' → ')}`,
    `- **Infrastructure**: ${Object.entries(config.services)
      .map(([service, { target }]) => `${text(service)} on ${target.kind}`)
      .join('; ')}`,
    `- **CI/CD Pipeline**: each change is one durable deploy workflow on Temporal (task queue ` +
      `${code(config.temporal.taskQueue)}), started by ${code('opsflow deploy start')} through the ops agent ` +
      `${code(agentWorkflowId(project))}: plan, ${envs.map((e) => text(e.name)).join(', ')}, promoted or rolled back`,
    `- **Monitoring**: canary analysis of every release: ${providers.join('; ')}`,
    '',
  ];
}

function infrastructure({ config, path }: ConfigFacts): string[] {
  const { environments: rules } = environmentRules(config);
  const envs = environmentsOf(config);
  const production = envs.find((e) => e.name === 'production') ?? envs.filter((e) => e.inPipeline).at(-1);
  const lines = ['## Infrastructure Architecture', ''];
  if (production) {
    const rule = rules[production.name];
    lines.push(
      '### Production Environment',
      '',
      source(`${code(path)}: services.\\*.target, environments.${text(production.name)}, policy`),
      '',
      `_The pipeline's production environment: ${text(production.name)}._`,
      '',
      `- **Hosting**: ${targetsIn(config, production.name)}`,
      `- **Compute**: ${noSource("opsflow does not size services: the target's own manifests or settings hold it")}`,
      `- **Database**: ${noSource('opsflow deploys services, not databases: their own setup would fill it')}`,
      `- **Storage**: ${noSource('opsflow manages no storage or CDN: their own setup would fill it')}`,
      `- **Security**: ${rule ? approvalOf(rule) : 'no rule'}; see Security & Compliance`,
      '',
    );
  }
  lines.push(
    '### Environment Specifications',
    '',
    source(`${code(path)}: environments, pipeline, policy; one table per environment, in the pipeline's order`),
    '',
  );
  envs.forEach(({ name, env, inPipeline }, i) => {
    const rule = rules[name];
    if (!rule) return;
    const where = inPipeline ? `${i + 1} of ${config.pipeline.length} in the pipeline` : 'not in the pipeline';
    lines.push(
      `#### ${text(name)}`,
      '',
      source(`${code(path)}: environments.${text(name)}, services.\\*.target, policy; ${where}`),
      '',
      ...environmentTable(config, name, env, rule),
      '',
    );
  });
  return lines;
}

function pipeline({ config, path }: ConfigFacts): string[] {
  const { environments: rules } = environmentRules(config);
  const envs = environmentsOf(config).filter((e) => e.inPipeline);
  return [
    '## CI/CD Pipeline',
    '',
    ...buildPipeline(),
    '### Deployment Strategy',
    '',
    source(`${code(path)}: pipeline, environments, policy`),
    '',
    ...pipelineYaml(config, rules),
    '',
    ...envs.map(({ name }) => {
      const rule = rules[name];
      return `- **${text(name)} deployment**: ${rule ? approvalOf(rule) : 'no rule'}`;
    }),
    `- **Rollback Strategy**: automated. A critical sample rolls back at once; so does a spent failure budget, a step ` +
      `whose whole window fails, an abort, or a pause nobody answers. Per environment: ` +
      envs.map(({ name, env }) => `${text(name)}: ${failoverOf(env)}`).join('; '),
    `- **Database Migrations**: ${noSource(
      "opsflow runs no migrations: the project's migration tool would fill it (the planner raises a deploy's risk when " +
        'its plan.md mentions a migration or schema change)',
    )}`,
    '',
  ];
}
