// `opsflow keys init` and `keys codec-init|codec-rotate`: names, options and help; keys-actions.ts makes the keys.
import type { Command } from 'commander';

/** Registers `opsflow keys init --name <person> [--dir <folder>]`. */
export function registerKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description(
      'the ed25519 keys people sign starts, approvals and controls with (OpenSSH format: an existing ~/.ssh/id_ed25519 ' +
        "or ssh-agent works too); the worker's policy lists the public ones",
    );
  keys
    .command('init')
    .description(
      'create an OpenSSH ed25519 key pair for a person: the private key stays with them (0600), the public key ' +
        '("ssh-ed25519 AAAA... <name>") goes into the policy',
    )
    .requiredOption('--name <person>', 'whose key (the name the policy and --by use)')
    .option(
      '--dir <folder>',
      'where to write <name>.key and <name>.pub (default: $OPSFLOW_KEYS_DIR or ~/.config/opsflow/keys)',
    )
    .action(async (opts: { name: string; dir?: string }) => {
      const { initKey } = await import('./keys-actions.js');
      initKey(opts);
    });
  const codecFile = [
    '--file <path>',
    'the key file (default: $OPSFLOW_CODEC_KEYS_FILE or ~/.config/opsflow/codec-keys)',
  ] as const;
  keys
    .command('codec-init')
    .description(
      'create the payload codec key file (0600): one random AES-256 key that encrypts what opsflow writes into ' +
        "Temporal's history, once the worker, the CLI and the codec server read it (docs/encryption.md)",
    )
    .option(...codecFile)
    .option('--id <id>', 'the key id written into each payload (default: the date and 4 random hex digits)')
    .action(async (opts: { file?: string; id?: string }) => {
      const { initCodecKey } = await import('./keys-actions.js');
      initCodecKey(opts, false);
    });
  keys
    .command('codec-rotate')
    .description(
      'append a new key to the codec key file: it encrypts from the next start of each process; the older keys ' +
        'still decrypt what they encrypted',
    )
    .option(...codecFile)
    .option('--id <id>', 'the new key id (default: the date and 4 random hex digits)')
    .action(async (opts: { file?: string; id?: string }) => {
      const { initCodecKey } = await import('./keys-actions.js');
      initCodecKey(opts, true);
    });
}
