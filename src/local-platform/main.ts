/**
 * The local platform as its own OS process, so a worker crash takes no service down:
 *
 *   node --import tsx src/local-platform/main.ts --config opsflow.yaml [--port N] [--state-dir .opsflow/platform]
 *
 * Logs are pino JSON on stdout (or --log-file). SIGINT or SIGTERM stops every service process and exits 0.
 */
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../config/load';
import { startLocalPlatform } from './server';
import { StartError } from './service-process';

interface CliOptions {
  config: string;
  port?: number;
  stateDir: string;
  tokenFile?: string;
  logFile?: string;
  logLevel: string;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return port;
}

function parseArgs(argv: string[]): CliOptions {
  return new Command()
    .name('opsflow-platform')
    .description('The local deploy target: real service processes behind weighted routers that record request metrics.')
    .option('-c, --config <file>', 'opsflow configuration', DEFAULT_CONFIG_FILE)
    .option('-p, --port <port>', 'control API port, 0 for any free one (default: platform.local.port)', parsePort)
    .option('--state-dir <dir>', 'folder of state.json', '.opsflow/platform')
    .option(
      '--token-file <file>',
      "the control API's bearer token, created 0600 when missing (default: platform.local.tokenFile, else <state-dir>/token)",
    )
    .option('--log-file <file>', 'write JSON logs to this file instead of stdout')
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'),
    )
    .parse(argv)
    .opts<CliOptions>();
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv);
  const { config, path: configPath } = loadConfig(options.config);
  const destination = options.logFile
    ? pino.destination({ dest: path.resolve(options.logFile), mkdir: true, sync: true })
    : pino.destination({ dest: 1, sync: true });
  const logger = pino({ name: 'local-platform', level: options.logLevel }, destination);

  const running = await startLocalPlatform({
    config,
    port: options.port,
    stateDir: path.resolve(options.stateDir),
    tokenFile: options.tokenFile ?? config.platform.local.tokenFile,
    // Relative paths in service commands mean relative to the config file, wherever the platform is started from.
    cwd: path.dirname(configPath),
    logger,
  });

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'stopping the local platform');
  // A second signal means "now": the services still exit, because their stdin closes with this process.
  const forceExit = () => process.exit(1);
  process.once('SIGINT', forceExit);
  process.once('SIGTERM', forceExit);
  await running.close();
}

/** One line: config and state-file errors already say what to fix; a release that failed adds its stderr. */
function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const tail = err instanceof StartError ? err.stderrTail.slice(-3).join(' | ') : '';
  const message = tail ? `${err.message}; stderr: ${tail}` : err.message;
  return message.split('\n')[0]!;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`opsflow platform: ${describeFailure(err)}\n`);
    process.exit(1);
  },
);
