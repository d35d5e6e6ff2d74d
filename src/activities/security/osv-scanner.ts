/**
 * `osv-scanner --format json`: OSV's data for a lockfile (or, with `scan image`, a container image). `results[]` holds
 * one entry per source scanned; each package lists its OSV `vulnerabilities` and their `groups`: ids that alias one
 * another, counted once, with `max_severity` (the highest CVSS score, a string; empty when none is known). A group
 * without a score takes the GitHub advisory's `database_specific.severity` when one of its records has it. Exit code 0:
 * nothing found, 1: vulnerabilities found; others are errors (128: no packages found).
 */
import { z } from 'zod';
import { SEVERITIES_WORST_FIRST, type Vulnerability, type VulnerabilitySeverity } from '../../shared/agent';
import { emptyCounts } from '../../shared/agent';
import { ScannerOutputError, worstFirst, type ScanReport, type Scanner } from './contract';

const vulnerabilitySchema = z.looseObject({
  id: z.string(),
  summary: z.string().optional(),
  database_specific: z.looseObject({ severity: z.string().optional() }).optional(),
});

const reportSchema = z.looseObject({
  results: z.array(
    z.looseObject({
      packages: z
        .array(
          z.looseObject({
            package: z.looseObject({ name: z.string(), version: z.string().optional() }),
            vulnerabilities: z.array(vulnerabilitySchema).default([]),
            groups: z
              .array(z.looseObject({ ids: z.array(z.string()).min(1), max_severity: z.string().optional() }))
              .default([]),
          }),
        )
        .default([]),
    }),
  ),
});

/** CVSS v3 bands (as OSV and GitHub name them), npm's words. */
function fromScore(score: number): VulnerabilitySeverity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'moderate';
  return score > 0 ? 'low' : 'info';
}

const GHSA_WORDS: Record<string, VulnerabilitySeverity> = {
  CRITICAL: 'critical',
  HIGH: 'high',
  MODERATE: 'moderate',
  MEDIUM: 'moderate',
  LOW: 'low',
};

function severityOf(
  maxSeverity: string | undefined,
  records: z.infer<typeof vulnerabilitySchema>[],
): VulnerabilitySeverity {
  const score = maxSeverity ? Number(maxSeverity) : NaN;
  if (Number.isFinite(score)) return fromScore(score);
  for (const r of records) {
    const word = r.database_specific?.severity?.toUpperCase();
    if (word && GHSA_WORDS[word]) return GHSA_WORDS[word];
  }
  return 'unknown';
}

/** Reads `osv-scanner --format json` output. */
export function parseOsvScanner(stdout: string): ScanReport {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new ScannerOutputError(`osv-scanner printed no JSON (${stdout.trim().slice(0, 80) || 'nothing'})`);
  }
  const parsed = reportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ScannerOutputError(
      `not an osv-scanner JSON report (${issue?.path.join('.') || 'report'}: ${issue?.message})`,
    );
  }
  const counts = emptyCounts();
  const found: Vulnerability[] = [];
  const seen = new Set<string>();
  for (const result of parsed.data.results) {
    for (const pkg of result.packages) {
      // Records the scanner did not group (older versions) count one each.
      const grouped = new Set(pkg.groups.flatMap((g) => g.ids));
      const groups = [
        ...pkg.groups,
        ...pkg.vulnerabilities.filter((v) => !grouped.has(v.id)).map((v) => ({ ids: [v.id], max_severity: undefined })),
      ];
      for (const group of groups) {
        const records = pkg.vulnerabilities.filter((v) => group.ids.includes(v.id));
        const id = group.ids.find((i) => i.startsWith('GHSA-')) ?? group.ids[0] ?? 'unknown';
        // The same package in two sources is one vulnerability to fix.
        const key = `${pkg.package.name}@${pkg.package.version ?? ''} ${id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const severity = severityOf(group.max_severity, records);
        counts[severity] += 1;
        found.push({ id, package: pkg.package.name, severity, title: records.find((r) => r.summary)?.summary ?? id });
      }
    }
  }
  return { counts, top: worstFirst(found, SEVERITIES_WORST_FIRST) };
}

export const osvScanner: Scanner = {
  label: 'osv-scanner',
  commands: {
    lockfile: ['osv-scanner', '--format', 'json', '--lockfile', '{{lockfile}}'],
    image: ['osv-scanner', 'scan', 'image', '--format', 'json', '{{image}}'],
  },
  parse: parseOsvScanner,
  scanned: (code) => code === 0 || code === 1,
};
