// What `opsflow chat-bridge` does, loaded when it runs.
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../config/load';
import { resolvePolicy } from '../../config/policy';
import { loadSigner, SignerError, type Signer } from '../../keys/keys';
import type { DeployPolicy } from '../../shared/deploy';
import { bridgeOf } from '../../shared/deploy/policy';
import { sameKey } from '../../shared/signing';
import { startChatBridge } from '../chat-bridge';
import { connect } from '../client';
import { CliError, print } from '../output';

/** The options of `opsflow chat-bridge`, as commander parses them. */
export interface ChatBridgeCliOptions {
  key: string;
  config?: string;
  name?: string;
  port: string;
  host: string;
  signingSecretFile?: string;
  quiet?: boolean;
}

/** Where Slack's response_url points: only Slack's own hosts are answered. */
const SLACK_HOSTS = /^(?:[a-z0-9-]+\.)*slack\.com$/;

/** Serves the bridge until SIGINT or SIGTERM. */
export async function serveChatBridge(opts: ChatBridgeCliOptions): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new CliError(`--port must be a port number, got "${opts.port}"`);
  }
  const signingSecret = readSigningSecret(opts.signingSecretFile);
  const { config, path: configPath } = loadConfig(opts.config);
  const policy = resolvePolicy(config, configPath);
  let signer: Signer;
  try {
    signer = await loadSigner(opts.key);
  } catch (err) {
    if (err instanceof SignerError) throw new CliError(`--key: ${err.message}`);
    throw err;
  }
  const name = bridgeName(policy, signer, opts.name, configPath);
  const { client, connection } = await connect();
  let server;
  try {
    server = await startChatBridge({
      client,
      policy,
      bridge: { name, signer },
      signingSecret,
      respond: answerOnResponseUrl,
      ...(opts.quiet ? {} : { onRequest: (line: string) => print(line) }),
      host: opts.host,
      port,
    });
  } catch (err) {
    await connection.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new CliError(`port ${port} is already in use: pass --port`);
    throw err;
  }
  const people = Object.values(policy.people).filter((p) => p.slack).length;
  print(
    `chat bridge "${name}" on ${server.url}/slack/interactions (${people} Slack user(s) mapped in ${configPath}); ` +
      "point the Slack app's Interactivity Request URL at it through your ingress; Ctrl-C stops it",
  );
  try {
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  } finally {
    await server.close();
    await connection.close();
  }
}

/** Slack's signing secret: from the file named, else $SLACK_SIGNING_SECRET; never printed. */
function readSigningSecret(file: string | undefined): string {
  let secret: string | undefined;
  if (file) {
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new CliError(
        `--signing-secret-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  } else {
    secret = process.env['SLACK_SIGNING_SECRET']?.trim();
  }
  if (!secret || /\s/.test(secret)) {
    throw new CliError(
      "no Slack signing secret: set SLACK_SIGNING_SECRET or pass --signing-secret-file (the app's Basic Information, App Credentials)",
    );
  }
  return secret;
}

/** The bridge of the policy this key signs for: named, or found by its key; a one-line error when the policy lacks it. */
function bridgeName(policy: DeployPolicy, signer: Signer, named: string | undefined, configPath: string): string {
  if (named) {
    const bridge = bridgeOf(policy, named);
    if (!bridge) throw new CliError(`--name ${named}: ${configPath} has no policy.bridges.${named}`);
    if (!sameKey(bridge.publicKey, signer.publicKey)) {
      throw new CliError(`--key is not policy.bridges.${named}'s key in ${configPath}: its statements would not count`);
    }
    if (bridge.kind !== 'slack') throw new CliError(`policy.bridges.${named} is a ${bridge.kind} bridge, not slack`);
    return named;
  }
  const found = Object.entries(policy.bridges ?? {}).find(
    ([, b]) => b.kind === 'slack' && sameKey(b.publicKey, signer.publicKey),
  );
  if (!found) {
    throw new CliError(
      `--key is no slack bridge of ${configPath}: add its public key under policy.bridges.<name> with kind: slack`,
    );
  }
  return found[0];
}

/** Posts the answer to the interaction's response_url, on Slack's hosts only, within five seconds. */
async function answerOnResponseUrl(url: string, message: object): Promise<void> {
  const host = new URL(url).hostname;
  if (!SLACK_HOSTS.test(host)) throw new Error(`response_url host ${host} is not Slack's; not answered`);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(message),
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`response_url answered ${response.status}`);
}
