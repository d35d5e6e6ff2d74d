// What `opsflow codec-server` does, loaded when it runs.
import { readFileSync } from 'node:fs';
import { codecFromEnv } from '../../temporal/codec';
import { CodecKeyError } from '../../temporal/codec-keys';
import { normaliseOrigin, startCodecServer } from '../../temporal/codec-server';
import { CliError, print } from '../output';

/** The options of `opsflow codec-server`, as commander parses them. */
export interface CodecServerCliOptions {
  port: string;
  origin?: string[];
  tokenFile?: string;
  namespace?: string[];
  quiet?: boolean;
}

/** The UI as `npm start` and `temporal server start-dev` serve it, by either name a browser may use. */
const DEFAULT_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

/** Serves the codec until SIGINT or SIGTERM. */
export async function serveCodec(opts: CodecServerCliOptions): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new CliError(`--port must be a port number, got "${opts.port}"`);
  }
  let origins: string[];
  try {
    origins = (opts.origin ?? DEFAULT_ORIGINS).map(normaliseOrigin);
  } catch (err) {
    throw new CliError(`--origin: ${(err as Error).message}`);
  }
  let codec;
  try {
    codec = codecFromEnv();
  } catch (err) {
    if (err instanceof CodecKeyError) throw new CliError(err.message);
    throw err;
  }
  if (!codec) {
    throw new CliError(
      'no codec key is configured: set OPSFLOW_CODEC_KEYS_FILE (make one with "opsflow keys codec-init") or OPSFLOW_CODEC_KEY',
    );
  }
  const token = opts.tokenFile ? readToken(opts.tokenFile) : undefined;
  let server;
  try {
    server = await startCodecServer({
      codec,
      port,
      origins,
      ...(token !== undefined ? { token } : {}),
      ...(opts.namespace?.length ? { namespaces: opts.namespace } : {}),
      ...(opts.quiet ? {} : { onRequest: (line: string) => print(line) }),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} is already in use: pass --port`);
    throw err;
  }
  print(
    `codec server on ${server.url} (encrypts with key "${codec.currentKeyId}"; browsers from ${origins.join(', ')}` +
      `${token !== undefined ? '; bearer token required' : ''})`,
  );
  print(`point the UI's "Codec Server" setting, or temporal --codec-endpoint, at ${server.url}; Ctrl-C stops it`);
  try {
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  } finally {
    await server.close();
  }
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CliError(`--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!token || /\s/.test(token)) throw new CliError(`--token-file ${file}: expected one token on one line`);
  return token;
}
