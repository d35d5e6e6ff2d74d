// `opsflow plan`: name, options and help only; plan-actions.ts, and what planning needs, load when it runs.
import type { Command } from 'commander';
import { defaultUser } from '../output';
import type { PlanOptions } from './plan-actions';

/** Registers `opsflow plan`: the plan a deploy would follow, printed, with nothing deployed. */
export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('print the plan a deploy would follow (risk, canary schedule, checks, rollback) without deploying')
    .requiredOption('-s, --service <name>', 'service from opsflow.yaml')
    .requiredOption('-v, --version <semver>', 'version to plan, e.g. 1.1.0')
    .option('--feature <name>', 'handoff folder whose plan.md is read (default: deploy-<service>-<version>)')
    .option('--requested-by <name>', 'who asks for it: $OPSFLOW_USER or your login', defaultUser())
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: PlanOptions) => {
      const { printPlan } = await import('./plan-actions.js');
      await printPlan(opts);
    });
}
