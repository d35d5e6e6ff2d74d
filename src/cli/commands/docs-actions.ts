// What `opsflow docs operations` does, loaded when it runs.
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  agentFactsFromStatus,
  configFacts,
  known,
  readDeployLog,
  renderOperations,
  type OperationsInput,
} from '../../activities/operations';
import type { AgentFacts, DeployLogFacts, Missing } from '../../activities/operations/types';
import { loadConfig } from '../../config/load';
import type { AgentTargets } from '../../shared/agent';
import { agentStatusQuery } from '../../shared/agent/messages';
import { nameSchema } from '../../shared/validation';
import { agentHandle } from '../agent-front-door';
import { connect } from '../client';
import { CliError, print, printJson } from '../output';

/** The options of `opsflow docs operations`. */
export interface OperationsOptions {
  project?: string;
  config?: string;
  out?: string;
  json?: boolean;
}

/** How long the agent's status query may take before the document is written without it. */
const QUERY_TIMEOUT_MS = 10_000;

/** Rejects with `message` when `call` has not answered within `ms`. */
async function within<T>(call: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliError(message)), ms);
  });
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The running agent's facts from its status query, as `opsflow agent status` reads it; when Temporal cannot be
 * reached, no agent runs, it has ended or it does not answer, why (the document is written without them).
 */
async function agentFacts(project: string, taskQueue: string, targets: AgentTargets): Promise<AgentFacts | Missing> {
  let connected: Awaited<ReturnType<typeof connect>>;
  try {
    connected = await connect();
  } catch (err) {
    return { missing: (err as Error).message };
  }
  const { client, connection } = connected;
  const handle = agentHandle(client, project);
  try {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      return { missing: `${handle.workflowId} is not running (${description.status.name.toLowerCase()})` };
    }
    const status = await within(
      handle.query(agentStatusQuery),
      QUERY_TIMEOUT_MS,
      `no answer from ${handle.workflowId} within ${QUERY_TIMEOUT_MS / 1000}s: is a worker polling task queue "${taskQueue}"?`,
    );
    return agentFactsFromStatus(status, targets, new Date().toISOString());
  } catch (err) {
    const { explain, forAgent } = await import('../explain.js');
    return { missing: explain(err, forAgent(project)).message };
  } finally {
    await connection.close();
  }
}

/** The agent's log in the current folder, or why it cannot be read. */
function deployLog(workdir: string, project: string): DeployLogFacts | Missing {
  try {
    return readDeployLog(workdir, project);
  } catch (err) {
    return { missing: `docs/operations/agent-log.jsonl cannot be read: ${(err as Error).message}` };
  }
}

/** The workdir's docs/ seen from the folder `out` lies in, as a link prefix ('' when out is in docs/ itself). */
function linkBase(workdir: string, out: string): string {
  const relative = path.relative(path.dirname(out), path.join(workdir, 'docs')).split(path.sep).join('/');
  return relative
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16)}`))
    .join('/');
}

/** Writes through a temporary file and a rename, so a reader never sees half a document. */
function writeAtomically(file: string, text: string): void {
  try {
    // As the agent writes its docs: 0600 in 0700 folders.
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, text, { mode: 0o600 });
    renameSync(temp, file);
  } catch (err) {
    throw new CliError(`--out: cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: err,
    });
  }
}

/** Writes OPERATIONS.md from the config, the running agent's status and the agent's log in this folder. */
export async function writeOperationsDoc(opts: OperationsOptions): Promise<void> {
  if (opts.project !== undefined) {
    const checked = nameSchema.safeParse(opts.project);
    if (!checked.success) throw new CliError(`--project: ${checked.error.issues[0]?.message}`);
  }
  if (opts.out !== undefined && opts.out.trim() === '') throw new CliError('--out: name the file to write');
  const { config, path: configPath } = loadConfig(opts.config);
  if (opts.project && opts.project !== config.project) {
    throw new CliError(`--project: ${opts.config ?? 'opsflow.yaml'} describes ${config.project}, not ${opts.project}`);
  }
  const workdir = process.cwd();
  const out = path.resolve(workdir, opts.out ?? 'docs/OPERATIONS.md');
  // Before asking Temporal anything: a wrong --out is the person's to fix at once.
  if (statSync(out, { throwIfNoEntry: false })?.isDirectory()) {
    throw new CliError(`--out: ${out} is a folder; name the file, e.g. ${path.join(out, 'OPERATIONS.md')}`);
  }
  const shown = path.relative(workdir, configPath);
  const input: OperationsInput = {
    project: config.project,
    generatedAt: new Date().toISOString(),
    generatedBy: 'opsflow docs operations',
    linkBase: linkBase(workdir, out),
    config: configFacts(config.project, {
      config,
      path: shown && !shown.startsWith('..') && !path.isAbsolute(shown) ? shown : configPath,
    }),
    agent: await agentFacts(config.project, config.temporal.taskQueue, config.agent.targets),
    log: deployLog(workdir, config.project),
  };
  writeAtomically(out, renderOperations(input));
  const file = path.relative(workdir, out) || out;
  if (opts.json) {
    return printJson({
      file,
      project: config.project,
      config: configPath,
      agent: known(input.agent) ? { source: input.agent.source, asOf: input.agent.asOf } : input.agent,
      log: known(input.log) ? { path: input.log.path, deploys: input.log.deploys.length } : input.log,
    });
  }
  print(`wrote ${file} for ${config.project} from ${path.relative(workdir, configPath) || configPath}`);
  print(
    known(input.agent)
      ? `  agent figures: ${input.agent.source}`
      : `  without the agent's figures (${input.agent.missing}): what the config alone gives`,
  );
  print(
    known(input.log)
      ? `  runbooks and changelog: ${input.log.deploys.length} deploys in ${input.log.path}`
      : `  no runbooks or changelog yet: ${input.log.missing}`,
  );
}
