// What `opsflow keys init` and `keys codec-init|codec-rotate` do, loaded when they run.
import os from 'node:os';
import path from 'node:path';
import { createKeyPair, defaultKeysDir } from '../../keys/keys';
import { fingerprintOf } from '../../shared/signing';
import { nameSchema } from '../../shared/validation';
import { CODEC_ENV, CodecKeyError, writeCodecKey } from '../../temporal/codec-keys';
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
    `created ${made.privateKey} (OpenSSH ed25519, private, 0600: keep it to yourself) and ${made.publicKey}`,
    `fingerprint ${fingerprintOf(made.line)}`,
    "add the public key to the worker's opsflow.yaml:",
    '  policy:',
    '    people:',
    `      ${name.data}: { key: '${made.line}' }`,
    `opsflow signs with it as ${name.data}; or "ssh-add ${made.privateKey}" and sign through ssh-agent`,
  );
}

/** Creates the codec key file, or appends a new key to it, and says how to turn the codec on. Never prints a key. */
export function initCodecKey(opts: { file?: string; id?: string }, rotate: boolean): void {
  const file = path.resolve(
    opts.file ?? process.env[CODEC_ENV.keysFile] ?? path.join(os.homedir(), '.config', 'opsflow', 'codec-keys'),
  );
  let key;
  try {
    key = writeCodecKey(file, { ...(opts.id !== undefined ? { id: opts.id } : {}), rotate });
  } catch (err) {
    if (err instanceof CodecKeyError) throw new CliError(err.message);
    throw err;
  }
  if (rotate) {
    print(
      `added key "${key.id}" to ${file}: it encrypts from the next start of the worker, the CLI and the codec server`,
      'the older keys still decrypt; restart the worker and the codec server to pick it up',
    );
    return;
  }
  print(
    `created ${file} (0600) with key "${key.id}"`,
    'turn the codec on for the worker, the CLI and the codec server (the same file for all three):',
    `  export ${CODEC_ENV.keysFile}=${file}`,
    'then let the Temporal UI decode: opsflow codec-server --help',
  );
}
