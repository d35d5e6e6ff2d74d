import { spawn } from 'node:child_process';
import os from 'node:os';
import { PLACEHOLDER_PATTERN } from './config';

/** What one command needs to run: its argv with placeholders filled in, where, with what, for how long. */
export interface HookRun {
  /** The operation, for messages and OPSFLOW_OPERATION. */
  operation: string;
  argv: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/** How a command ended. */
export type HookOutcome =
  | { kind: 'exited'; code: number; stdout: string; stderr: string }
  | { kind: 'timed-out'; stderr: string }
  | { kind: 'not-started'; error: string };

/** Standard output beyond this is cut: status and releases print a little JSON. */
const MAX_STDOUT = 1_000_000;
/** Standard error kept for the error message: its end, where the reason usually is. */
const MAX_STDERR = 8_000;
/** After SIGTERM to the group on a timeout, the time before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** After the command exits, how long its output pipes may stay open (a process it left behind may hold them). */
const DRAIN_MS = 200;

/** Fills `{{name}}` in each argument from `values`; a placeholder the config let through always has a value. */
export function fillArgv(argv: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) => arg.replace(PLACEHOLDER_PATTERN, (whole, name: string) => values[name] ?? whole));
}

/** The variables of `from` named in `names`, and nothing else. */
export function passThrough(names: readonly string[], from: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * Runs one command without a shell in a process group of its own; on timeout the whole group is killed (SIGTERM, then
 * SIGKILL), so nothing it started keeps running. A process the command starts on purpose to outlive it (a service)
 * must leave the group (setsid, or a detached spawn).
 */
export function runHook(run: HookRun): Promise<HookOutcome> {
  return new Promise((resolve) => {
    const [program, ...args] = run.argv;
    const child = spawn(program ?? '', args, {
      cwd: run.cwd,
      env: run.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_STDOUT) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-MAX_STDERR);
    });
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, run.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ kind: 'not-started', error: err.message });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Output still in the pipes is read; a pipe held open by a process the command left behind is not waited for.
      const drained = new Promise<void>((done) => {
        let open = 2;
        const closed = () => (--open === 0 ? done() : undefined);
        if (child.stdout.readableEnded) closed();
        else child.stdout.once('close', closed);
        if (child.stderr.readableEnded) closed();
        else child.stderr.once('close', closed);
        setTimeout(done, DRAIN_MS).unref();
      });
      void drained.then(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        if (timedOut) resolve({ kind: 'timed-out', stderr });
        else resolve({ kind: 'exited', code: code ?? 128 + signalNumber(signal), stdout, stderr });
      });
    });
  });
}

/** The shell's convention for a process ended by a signal: 128 + its number. */
function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? os.constants.signals[signal] : 0;
}

/** The last `count` non-empty lines of a command's standard error, joined for a one-line message. */
export function lastLines(text: string, count = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .slice(-count)
    .join(' | ');
}
