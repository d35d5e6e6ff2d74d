// `opsflow chat-bridge`: names, options and help only; chat-bridge-actions.ts loads the policy and key and serves.
import type { Command } from 'commander';
import type { ChatBridgeCliOptions } from './chat-bridge-actions';

/** Registers `opsflow chat-bridge --key <file> [--config <file>] [--port 8890] [--host 127.0.0.1] ...`. */
export function registerChatBridgeCommand(program: Command): void {
  program
    .command('chat-bridge')
    .description(
      "answer the Approve / Reject / Resume / Abort buttons of opsflow's Slack messages: verify Slack's request " +
        "signature, map the Slack user to a person of the worker's policy and send the decision signed with the " +
        "bridge's own key, where the policy lets chat decisions count",
    )
    .requiredOption(
      '--key <file>',
      "the bridge's own ed25519 private key (OpenSSH; its public key is in policy.bridges)",
    )
    .option('-c, --config <file>', "the worker's opsflow.yaml (its policy maps Slack users and lists this bridge)")
    .option('--name <bridge>', 'which bridge of policy.bridges this is (default: the one whose key is --key)')
    .option('-p, --port <port>', 'port to listen on (0: any free port)', '8890')
    .option('--host <address>', 'address to listen on (put it behind the ingress Slack reaches)', '127.0.0.1')
    .option(
      '--signing-secret-file <file>',
      "a file holding the Slack app's signing secret (default: $SLACK_SIGNING_SECRET)",
    )
    .option('--quiet', 'do not print a line per request')
    .addHelpText(
      'after',
      `
In the Slack app's settings (api.slack.com/apps): Interactivity & Shortcuts on, Request URL
  https://<your ingress>/slack/interactions   (forwarded to this bridge)
and the app's signing secret (Basic Information, App Credentials) in SLACK_SIGNING_SECRET or --signing-secret-file.

In the worker's opsflow.yaml (the same file the bridge runs with):
  policy:
    people:
      alice: { keyFile: .opsflow/keys/alice.pub, slack: U012ABC3DEF }
    bridges:
      slack: { keyFile: .opsflow/keys/slack-bridge.pub, kind: slack }   # opsflow keys init --name slack-bridge
    environments:
      production: { approvers: [alice, bob], required: 2, chat: first }  # none (default) | first | all

Example:
  $ SLACK_SIGNING_SECRET=... opsflow chat-bridge --key ~/.config/opsflow/keys/slack-bridge.key`,
    )
    .action(async (opts: ChatBridgeCliOptions) => {
      const { serveChatBridge } = await import('./chat-bridge-actions.js');
      await serveChatBridge(opts);
    });
}
