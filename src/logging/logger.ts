import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger as Pino } from 'pino';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';

/** Where opsflow's processes write their logs, relative to the working directory. */
export const LOG_DIR = path.join('.opsflow', 'logs');

/** A pino logger writing JSON lines to `.opsflow/logs/<name>.log` (one line per event, machine-readable). */
export function createFileLogger(name: string, options: { dir?: string; level?: string } = {}): Pino {
  const dir = options.dir ?? LOG_DIR;
  // Logs hold deploy inputs and LLM errors: readable by the worker's user alone (0600 in a 0700 folder).
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${name}.log`);
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  const destination = pino.destination({ dest: file, sync: false, mkdir: true, mode: 0o600 });
  return pino({ name, level: options.level ?? process.env['OPSFLOW_LOG_LEVEL'] ?? 'info' }, destination);
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Temporal's Logger interface on top of pino, installed once with Runtime.install, so workflow and
 * activity logs (which carry workflowId, runId and activityId) land in the same JSON file.
 */
export class PinoTemporalLogger implements Logger {
  constructor(private readonly pino: Pino) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.pino[LEVELS[level]](meta ?? {}, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
