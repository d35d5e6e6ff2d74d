// `opsflow deploy ...`: names, arguments, options and help only. Each action imports what it runs when it runs, so
// `--help` loads commander and these lines, not Temporal's client, the config loader or the LLM SDKs.
import type { Command } from 'commander';
import { deployIdProblem } from '../../shared/deploy/deploy-id';
import { CliError, defaultUser } from '../output';
import { registerControlCommands, registerOverrideCommand } from './control';
import type { ApprovalOptions } from './deploy-actions';
import type { StartOptions } from './deploy-start';
import { EXIT } from './exit-codes';

export { EXIT };

/** Registers `opsflow deploy ...`. */
export function registerDeployCommands(program: Command): void {
  const deployCmd = program
    .command('deploy')
    .description('start, approve or reject, pause, resume, promote or abort, and follow deployments')
    .addHelpText(
      'after',
      `
Lifecycle: PLANNING → DEPLOYING/VERIFYING (staging) → AWAITING_APPROVAL → CANARY (steps) or BLUE_GREEN → PROMOTED
           critical sample, failure limit, abort, unanswered pause → ROLLING_BACK → ROLLED_BACK
           inconclusive data or "pause" → PAUSED (resume, promote or abort); rejected or timed out → CANCELLED

Example:
  $ opsflow deploy start --service hello --version 1.1.0
  $ opsflow deploy approve deploy-hello-1.1.0-production --by alice --comment "looks good"
  $ opsflow deploy watch deploy-hello-1.1.0-production
  $ opsflow deploy pause deploy-hello-1.1.0-production --by alice --reason "checking a dashboard"`,
    );

  // Every command that names a deploy checks the id against the one pattern first, in one line, before connecting.
  deployCmd.hook('preAction', (_deploy, action) => {
    if (action.registeredArguments[0]?.name() !== 'workflowId') return;
    const problem = deployIdProblem(String(action.args[0] ?? ''));
    if (problem) throw new CliError(problem);
  });

  deployCmd
    .command('start')
    .description(
      'start a deploy of one service version through the pipeline (idempotent: the same change returns the running deploy)',
    )
    .requiredOption('-s, --service <name>', 'service from opsflow.yaml')
    .requiredOption('-v, --version <semver>', 'version to deploy, e.g. 1.1.0')
    .option('--feature <name>', 'handoff folder name under .agency/handoff (default: deploy-<service>-<version>)')
    .option('--reason <text>', 'why this deploy (shown in the report)')
    .option('--requested-by <name>', 'who asks for it: $OPSFLOW_USER or your login', defaultUser())
    .option(
      '--key <file>',
      "the requester's signing key: an OpenSSH or PEM private key, or a .pub whose key ssh-agent holds " +
        '(default: <name>.key in the keys folders, then ssh-agent)',
    )
    .option('-c, --config <file>', 'configuration file', 'opsflow.yaml')
    .option('--json', 'print {"workflowId","runId","uiUrl"}')
    .option('--standalone', "start the deploy directly, not through the project's ops agent")
    .option(
      '--wait',
      'follow the deploy to its end as "deploy watch" does and exit as it does: 0 promoted, 2 rolled back, ' +
        '3 cancelled, 4 failed (a CI job in one step)',
    )
    .action(async (opts: StartOptions) => {
      const { startDeploy } = await import('./deploy-start.js');
      process.exitCode = await startDeploy(opts);
    });

  const approvalAction = (kind: 'approve' | 'reject') => async (workflowId: string, opts: ApprovalOptions) => {
    const { decideApproval } = await import('./deploy-actions.js');
    await decideApproval(kind, workflowId, opts);
  };

  deployCmd
    .command('approve <workflowId>')
    .description(
      'approve the environment a deploy is waiting for (an Update: refused unless you are a listed approver)',
    )
    .requiredOption('--by <name>', 'who approves (must be a listed approver, not the requester)')
    .option('--comment <text>', 'recorded with the approval')
    .option(
      '--key <file>',
      'the signing key: an OpenSSH or PEM private key, or a .pub whose key ssh-agent holds (default: <name>.key in ' +
        '$OPSFLOW_KEYS_DIR or ~/.config/opsflow/keys, then .opsflow/keys, then ssh-agent)',
    )
    .option('--signal', 'send a Signal instead of an Update (no answer; for tools that cannot send Updates)')
    .option('--json', 'print the approval record as JSON')
    .action(approvalAction('approve'));

  deployCmd
    .command('reject <workflowId>')
    .description('reject the environment a deploy is waiting for; the deploy ends as cancelled')
    .requiredOption('--by <name>', 'who rejects (a listed approver or the requester)')
    .requiredOption('--reason <text>', 'why (recorded and reported)')
    .option('--key <file>', 'the signing key (default: <name>.key in the keys folders, as for approve)')
    .option('--signal', 'send a Signal instead of an Update')
    .option('--json', 'print the rejection record as JSON')
    .action(approvalAction('reject'));

  deployCmd
    .command('verify <workflowId>')
    .description(
      're-verify every approval, control and the signed start of a deploy from its history, against the policy of ' +
        "this machine's worker config (never the one the history was answered); exit 1 if a decision the deploy " +
        'acted on does not hold (a refused attempt it ignored is listed, and fails nothing)',
    )
    .option('-c, --config <file>', "the worker's configuration file, whose policy is the verifier's", 'opsflow.yaml')
    .option('--recorded-policy', 'verify against the policy recorded in the history (only as trustworthy as it)')
    .option('--json', 'print the decisions and what was found as JSON')
    .action(async (workflowId: string, opts: { json?: boolean; config: string; recordedPolicy?: boolean }) => {
      const { verifyDeploy } = await import('./verify-actions.js');
      process.exitCode = await verifyDeploy(workflowId, opts);
    });

  deployCmd
    .command('status <workflowId>')
    .description('phase, step, weight, last analysis sample, approvals and timeline')
    .option('--json', 'print the whole status as JSON')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      const { showStatus } = await import('./deploy-actions.js');
      await showStatus(workflowId, opts);
    });

  deployCmd
    .command('watch <workflowId>')
    .description(
      `follow a deploy live until it ends; exit ${EXIT.promoted} promoted, ${EXIT.rolledBack} rolled back, ${EXIT.cancelled} cancelled, ${EXIT.failed} failed`,
    )
    .option('--interval <ms>', 'poll interval in milliseconds', '1000')
    .option('--json', 'print each new timeline entry and sample as a JSON line')
    .action(async (workflowId: string, opts: { interval: string; json?: boolean }) => {
      const { watchDeploy } = await import('./deploy-actions.js');
      process.exitCode = await watchDeploy(workflowId, opts);
    });

  registerControlCommands(deployCmd);
  registerOverrideCommand(deployCmd);

  deployCmd
    .command('list')
    .description('recent deploys with their phase, newest first')
    .option('-n, --limit <count>', 'how many', '20')
    .option('--service <name>', 'only this service')
    .option('--json', 'print JSON')
    .action(async (opts: { limit: string; service?: string; json?: boolean }) => {
      const { listDeploys } = await import('./deploy-actions.js');
      await listDeploys(opts);
    });
}
