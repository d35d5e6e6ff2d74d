// `opsflow codec-server`: names, options and help only; codec-server-actions.ts loads the keys and serves when it runs.
import type { Command } from 'commander';
import type { CodecServerCliOptions } from './codec-server-actions';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Registers `opsflow codec-server [--port 8888] [--origin <url>]... [--token-file <file>] [--namespace <name>]...`. */
export function registerCodecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description(
      'serve /encode and /decode on 127.0.0.1 with the payload codec keys, so the Temporal UI and CLI show encrypted ' +
        'histories decoded to those who can reach it',
    )
    .option('-p, --port <port>', 'port on 127.0.0.1 (0: any free port)', '8888')
    .option(
      '--origin <url>',
      'a Temporal UI origin browsers may call from (repeatable; default http://localhost:8233 and http://127.0.0.1:8233)',
      collect,
    )
    .option('--token-file <file>', 'require "Authorization: Bearer <the token in this file>" on every request')
    .option('--namespace <name>', 'serve only this namespace, named by X-Namespace (repeatable; default: any)', collect)
    .option('--quiet', 'do not print a line per request')
    .addHelpText(
      'after',
      `
Keys: the same settings as the worker's and the CLI's, from the environment:
  OPSFLOW_CODEC_KEYS_FILE   a 0600 file of "<key id>:<base64 key>" lines (opsflow keys codec-init); the last encrypts
  OPSFLOW_CODEC_KEY         or one base64 key (32 bytes), with OPSFLOW_CODEC_KEY_ID (default: a fingerprint)

Point the Temporal UI at it (its origin must be allowed with --origin):
  - in the UI: the "Configure Codec Server" button in its top bar, endpoint http://127.0.0.1:8888 (this browser)
  - for everyone: the dev server's flag, temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8888,
    or the UI server's codec.endpoint setting (TEMPORAL_CODEC_ENDPOINT in its container)
Point the Temporal CLI at it:
  $ temporal workflow show -w <id> --codec-endpoint http://127.0.0.1:8888
  $ temporal workflow show -w <id> --codec-endpoint http://127.0.0.1:8888 --codec-auth "Bearer $(cat token)"

Whoever reaches it reads every payload it is sent: it listens on 127.0.0.1 only; for a team, put it behind the
same sign-on as the UI (see docs/encryption.md).

Example:
  $ OPSFLOW_CODEC_KEYS_FILE=~/.config/opsflow/codec-keys opsflow codec-server --origin http://localhost:8233`,
    )
    .action(async (opts: CodecServerCliOptions) => {
      const { serveCodec } = await import('./codec-server-actions.js');
      await serveCodec(opts);
    });
}
