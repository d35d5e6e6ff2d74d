// `opsflow keys init`: names, options and help; keys-actions.ts makes the key when it runs.
import type { Command } from 'commander';

/** Registers `opsflow keys init --name <person> [--dir <folder>]`. */
export function registerKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description("the ed25519 keys people sign approvals and controls with; the worker's policy lists the public ones");
  keys
    .command('init')
    .description(
      'create a key pair for a person: the private key stays with them (0600), the public key goes into the policy',
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
}
