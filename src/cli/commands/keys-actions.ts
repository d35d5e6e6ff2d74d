// What `opsflow keys init` does, loaded when it runs.
import path from 'node:path';
import { createKeyPair, defaultKeysDir } from '../../keys/keys';
import { nameSchema } from '../../shared/validation';
import { CliError, print } from '../output';

/** Creates a person's key pair and says what to put into the worker's policy. */
export function initKey(opts: { name: string; dir?: string }): void {
  const name = nameSchema.safeParse(opts.name);
  if (!name.success) throw new CliError(`--name: ${name.error.issues[0]?.message ?? 'invalid'}`);
  const dir = path.resolve(opts.dir ?? defaultKeysDir());
  let made;
  try {
    made = createKeyPair(dir, name.data);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  print(
    [
      `created ${made.privateKey} (private, 0600: keep it to yourself) and ${made.publicKey}`,
      "add the public key to the worker's opsflow.yaml:",
      '  policy:',
      '    people:',
      `      ${name.data}: { key: '${made.line}' }`,
    ].join('\n'),
  );
}
