import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

/** How to start a child process whose output goes to a log file or is kept in memory. */
export interface SpawnOptions {
  /** Appends stdout and stderr here; without it the last few kilobytes are kept for error messages. */
  logFile?: string;
  /** Own process group, so a terminal's Ctrl-C reaches only the parent, which then stops children in order. */
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Sees each chunk of stdout; with a log file, stdout then passes through this process on its way there. */
  onStdout?: (chunk: string) => void;
}

/** A spawned child, the tail of its output, and a promise of its exit. */
export interface LoggedProcess {
  process: ChildProcess;
  /** Resolves with the exit code, or the signal name, once the process has exited (never rejects). */
  exited: Promise<number | NodeJS.Signals>;
  /** The last few kilobytes of output (stderr always when no log file; stdout when it is piped). */
  tail(): string;
}

const TAIL_BYTES = 8 * 1024;

// Children still running when this process exits (even on an uncaught error) are killed, never orphaned.
const running = new Set<ChildProcess>();
const groupLeaders = new WeakSet<ChildProcess>();
process.on('exit', () => {
  for (const child of running) signalChild(child, 'SIGKILL');
});

// A signal nobody else handles ends this process without an 'exit' event (the test runner cancelling a file
// does that): pass SIGTERM to the children, then die of the signal as before. Programs with their own handler
// (scripts/dev.ts, the worker) stop their children themselves.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  const onSignal = () => {
    if (process.listenerCount(signal) > 1) return;
    for (const child of running) signalChild(child, 'SIGTERM');
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  };
  process.on(signal, onSignal);
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || hasExited(child)) return;
  try {
    // SIGTERM lets a detached child stop its own children in order; SIGKILL takes its whole process group.
    if (signal === 'SIGKILL' && groupLeaders.has(child)) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // Already gone.
  }
}

/** Spawns a command with stdout and stderr appended to a log file, or kept in memory without one. */
export function spawnLogged(command: string, args: readonly string[], options: SpawnOptions = {}): LoggedProcess {
  let logFd: number | undefined;
  if (options.logFile) {
    mkdirSync(path.dirname(options.logFile), { recursive: true });
    logFd = openSync(options.logFile, 'a');
  }
  const pipeStdout = logFd === undefined || options.onStdout !== undefined;
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: options.detached ?? false,
    stdio: ['ignore', pipeStdout ? 'pipe' : logFd, logFd ?? 'pipe'],
  });
  if (options.detached) groupLeaders.add(child);
  running.add(child);

  let tail = '';
  const keep = (text: string) => {
    tail = (tail + text).slice(-TAIL_BYTES);
  };
  child.stderr?.on('data', (chunk: Buffer) => keep(chunk.toString('utf8')));
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    keep(text);
    options.onStdout?.(text);
    if (logFd !== undefined) writeSync(logFd, chunk);
  });
  // The child holds its own copy of the descriptor; the parent's copy is needed only while it tees stdout.
  if (logFd !== undefined && !pipeStdout) closeSync(logFd);
  child.once('close', () => {
    if (logFd !== undefined && pipeStdout) closeSync(logFd);
  });

  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('error', (error) => {
      keep(`${error.message}\n`);
      running.delete(child);
      resolve(-1);
    });
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });
  return { process: child, exited, tail: () => tail };
}

/** Sends `signal` (SIGTERM) and waits for the exit, escalating to SIGKILL after graceMs. */
export async function stopProcess(
  child: LoggedProcess,
  graceMs = 5000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (hasExited(child.process)) return;
  signalChild(child.process, signal);
  let timer: NodeJS.Timeout | undefined;
  const escalate = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      signalChild(child.process, 'SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([child.exited, escalate]);
  clearTimeout(timer);
  await child.exited;
}
