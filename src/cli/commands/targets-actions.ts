// What `opsflow targets check` does, loaded when it runs: the config and the deploy targets it names.
import { CommandTarget } from '../../activities/targets/command/target';
import { KubernetesTarget } from '../../activities/targets/kubernetes/target';
import type { TargetStatus } from '../../activities/targets/contract';
import { targetsFromConfig } from '../../activities/targets/registry';
import { loadConfig } from '../../config/load';
import { explain } from '../explain';
import { CliError, print, printJson } from '../output';

export interface TargetsCheckOptions {
  service?: string;
  config?: string;
  json?: boolean;
}

/** What one service's target showed in one environment: what runs, or why it could not tell. */
interface Finding {
  service: string;
  kind: string;
  environment: string;
  status?: TargetStatus;
  /** The command that was run (command targets), for people checking their config. */
  command?: { cwd: string; argv: string[] };
  /** What the target found besides the releases (kubernetes: the cluster, the Deployment and its image, the route). */
  found?: string;
  error?: string;
}

/** How long one call to a target may take here: a person is waiting. */
const CHECK_TIMEOUT_MS = 10_000;

/** Checks every configured target (or one service's) in every environment; prints findings, exits 1 on a problem. */
export async function checkTargets(opts: TargetsCheckOptions): Promise<void> {
  const { config } = loadConfig(opts.config);
  const services = Object.keys(config.services);
  if (opts.service && !services.includes(opts.service)) {
    throw new CliError(`no service "${opts.service}" in opsflow.yaml: it has ${services.join(', ')}`);
  }
  const environments = [...new Set([...config.pipeline, ...Object.keys(config.environments)])];
  const registry = targetsFromConfig(config, { timeoutMs: CHECK_TIMEOUT_MS });
  const findings: Finding[] = [];
  const releases: Record<string, readonly string[] | string | undefined> = {};
  for (const service of opts.service ? [opts.service] : services) {
    const target = registry.targetFor(service);
    releases[service] = await target.releases(service).catch((err: unknown) => `cannot list: ${explain(err).message}`);
    // One environment at a time: a target's commands or platform are not made to answer several at once.
    for (const environment of environments) {
      const ref = { service, environment };
      const finding: Finding = { service, kind: target.kind, environment };
      if (target instanceof CommandTarget) finding.command = target.describeStatus(ref);
      try {
        finding.status = await target.status(ref);
        if (target instanceof KubernetesTarget) finding.found = await target.describe(ref);
      } catch (err) {
        finding.error = explain(err).message;
      }
      findings.push(finding);
    }
  }
  const problems = findings.filter((f) => f.error !== undefined);
  if (opts.json) printJson({ ok: problems.length === 0, releases, findings });
  else for (const line of describe(findings, releases)) print(line);
  if (problems.length > 0) {
    throw new CliError(
      `${problems.length} of ${findings.length} target checks failed: ${problems.map((p) => `${p.service} in ${p.environment}`).join(', ')}`,
    );
  }
}

/** The findings for people: per service its kind and releases, then one line per environment. */
function describe(findings: readonly Finding[], releases: Record<string, readonly string[] | string | undefined>) {
  const lines: string[] = [];
  for (const service of [...new Set(findings.map((f) => f.service))]) {
    const own = findings.filter((f) => f.service === service);
    const listed = releases[service];
    const known = typeof listed === 'string' ? listed : listed ? listed.join(', ') : 'not listed by the target';
    lines.push(`${service} (target ${own[0]?.kind}): releases ${known}`);
    for (const f of own) {
      lines.push(`  ${f.environment.padEnd(12)} ${f.error !== undefined ? `✗ ${f.error}` : `✓ ${runs(f.status)}`}`);
      if (f.found) lines.push(`  ${''.padEnd(12)}   ${f.found}`);
      if (f.command) lines.push(`  ${''.padEnd(12)}   status: ${f.command.argv.join(' ')} (in ${f.command.cwd})`);
    }
  }
  return lines;
}

function runs(status: TargetStatus | undefined): string {
  if (!status) return 'nothing reported';
  const stable = status.stable
    ? `stable ${status.stable.version}${status.stable.deployId ? ` (by ${status.stable.deployId})` : ''}`
    : 'no stable release';
  const canary = status.canary
    ? `canary ${status.canary.version} at ${status.canary.weight} % (by ${status.canary.deployId})`
    : 'no canary';
  return `${stable}, ${canary}${status.approximate ? ' (split by replicas: approximate)' : ''}`;
}
