// `opsflow docs ...`: names, options and help only; docs-actions.ts is loaded when a command runs.
import type { Command } from 'commander';
import type { OperationsOptions } from './docs-actions';

/** Registers `opsflow docs operations`. */
export function registerDocsCommands(program: Command): void {
  const docs = program.command('docs').description('documents opsflow writes from what it knows of the project');

  docs
    .command('operations')
    .description("write OPERATIONS.md: the spec's operations guide, filled from the config and the ops agent")
    .option('--project <name>', 'project (default: the one opsflow.yaml names; must match it)')
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--out <file>', 'where to write it', 'docs/OPERATIONS.md')
    .option('--json', 'print what was written and from which sources as JSON')
    .addHelpText(
      'after',
      `
OPERATIONS.md follows the DevOps engineer's template (deployment overview, environments, CI/CD, monitoring,
KPIs, alerting, security, recovery, incident response, cost, runbooks, quality gates, changelog). Each section
names its source or says in one line what would fill it; no figure is invented:
  - opsflow.yaml: strategies and steps per environment, targets and where they run, analysis thresholds,
    the approval policy, notification channels (their kind and credential variable, never a value) and escalation;
  - the ops agent (ops-agent-<project>, read with its status query): DORA figures (deployment frequency, lead
    time, change failure rate, time to restore) against its targets, quality gates, open improvement items;
  - docs/operations/agent-log.jsonl: runbooks linked to the post-mortems in docs/incidents/, and the changelog.
When no agent runs (or Temporal cannot be reached) it writes what the config alone gives, and says so.
The agent refreshes docs/OPERATIONS.md itself with each self-review and lists it in
docs/operations/files-changed.json.

Example:
  $ opsflow docs operations
  $ opsflow docs operations --config examples/nginx/opsflow.yaml --out /tmp/OPERATIONS.md`,
    )
    .action(async (opts: OperationsOptions) => {
      const { writeOperationsDoc } = await import('./docs-actions.js');
      await writeOperationsDoc(opts);
    });
}
