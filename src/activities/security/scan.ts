// Runs the worker's vulnerability scanner on what each service deploys, one scan per service, and reads its JSON.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { VulnerabilityScan } from '../../shared/agent';
import { fillArgv, lastLines, passThrough, runHook } from '../targets/command/run';
import type { SecurityConfig } from './config';
import { ScannerOutputError } from './contract';
import { SCANNERS } from './registry';

/** What every scanner gets from the worker's environment; `passEnv` adds to it. No other variable reaches it. */
const BASE_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** Where the worker runs, and its environment: the worker passes its own, tests theirs. */
export interface ScanContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Scans each service the config names, in parallel: its lockfile (relative to `baseDir`) or its image reference with
 * {{version}} the version the agent last promoted (`deployed`). A scan that cannot run or whose output is not the
 * scanner's report says why in one line; it never fails the others.
 */
export async function scanServices(
  config: SecurityConfig,
  deployed: Readonly<Record<string, string>>,
  context: ScanContext,
): Promise<VulnerabilityScan[]> {
  const services = Object.keys(config.services).sort();
  return Promise.all(services.map((service) => scanOne(config, service, deployed[service] ?? null, context)));
}

async function scanOne(
  config: SecurityConfig,
  service: string,
  version: string | null,
  { baseDir, env }: ScanContext,
): Promise<VulnerabilityScan> {
  const scanner = SCANNERS[config.scanner];
  const subject = config.services[service] ?? {};
  const lockfile = subject.lockfile !== undefined ? path.resolve(baseDir, subject.lockfile) : undefined;
  const image = subject.image?.replace(/\{\{\s*version\s*\}\}/g, version ?? '{{version}}');
  const target = subject.lockfile ?? image ?? '';
  const failed = (error: string): VulnerabilityScan => ({ service, version, target, error });
  if (lockfile !== undefined && !existsSync(lockfile)) return failed(`no lockfile at ${lockfile}`);
  if (image?.includes('{{version}}')) return failed('no promoted version of the service is known yet');
  const template = config.command ?? scanner.commands[lockfile !== undefined ? 'lockfile' : 'image'];
  if (!template) return failed(`${scanner.label} has no command for this subject: set security.command`);
  const argv = fillArgv(template, { lockfile: lockfile ?? '', image: image ?? '', service, version: version ?? '' });
  const outcome = await runHook({
    operation: 'scan',
    argv,
    cwd: lockfile !== undefined ? path.dirname(lockfile) : baseDir,
    env: passThrough([...BASE_ENV, ...config.passEnv], env),
    timeoutMs: config.timeout,
  });
  if (outcome.kind === 'not-started') return failed(`${argv[0]} could not start: ${outcome.error}`);
  if (outcome.kind === 'timed-out') return failed(`${scanner.label} took longer than ${config.timeout / 1000}s`);
  try {
    const report = scanner.parse(outcome.stdout);
    if (!scanner.scanned(outcome.code)) {
      return failed(`${scanner.label} exited ${outcome.code}: ${lastLines(outcome.stderr) || 'no message'}`);
    }
    return { service, version, target, counts: report.counts, top: report.top };
  } catch (err) {
    if (!(err instanceof ScannerOutputError)) throw err;
    const stderr = scanner.scanned(outcome.code) ? '' : ` (exit ${outcome.code}: ${lastLines(outcome.stderr, 1)})`;
    return failed(`${err.message}${stderr}`);
  }
}
