/**
 * The vulnerability scanner contract: a program the worker runs on what a service deploys (its lockfile, or its image
 * reference) that prints JSON. Each scanner (`npm-audit`, `osv-scanner`) is one file here, picked by `security.scanner`
 * through `registry.ts`: its default commands and the reading of its JSON. Running it is the worker's (scan.ts).
 */
import type { Vulnerability, VulnerabilitySeverity } from '../../shared/agent';

/** What one scan found: counts by severity and the worst few. */
export interface ScanReport {
  counts: Record<VulnerabilitySeverity, number>;
  top: Vulnerability[];
}

/** What a scanner reads: a lockfile or an image reference. */
export type ScanSubject = 'lockfile' | 'image';

export interface Scanner {
  /** How answers name it: "npm audit". */
  label: string;
  /**
   * The command per subject it can scan, `{{lockfile}}` / `{{image}}` filled in; it runs in the lockfile's folder.
   * A subject without one is refused when the config loads.
   */
  commands: Partial<Record<ScanSubject, readonly string[]>>;
  /** Reads its JSON output; throws {@link ScannerOutputError} naming what is wrong with it. */
  parse(stdout: string): ScanReport;
  /** Whether an exit code means "scanned" (findings included), not "failed". */
  scanned(code: number): boolean;
}

/** Output that is not the scanner's report (an error document, truncated JSON, another format). */
export class ScannerOutputError extends Error {
  override name = 'ScannerOutputError';
}

/** At most this many vulnerabilities are kept per scan, worst first. */
export const TOP_KEPT = 5;

/** The worst `TOP_KEPT`, by severity then id, so the same report always keeps the same ones. */
export function worstFirst(all: Vulnerability[], order: readonly VulnerabilitySeverity[]): Vulnerability[] {
  return [...all]
    .sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity) || a.id.localeCompare(b.id))
    .slice(0, TOP_KEPT);
}
