/**
 * `npm audit --json`: npm's audit report, version 2 (npm 7 and later; @npmcli/arborist's AuditReport.toJSON). Each
 * entry of `vulnerabilities` is a vulnerable package; its `via` lists advisories (objects with `source`, `title`,
 * `url`, `severity`, `range`) or names of the vulnerable packages it depends on (strings). The counts are the report's
 * own `metadata.vulnerabilities`, one per vulnerable package. npm exits 1 when it finds any; an error (the registry's
 * audit endpoint failing) prints an object with `error` and no `auditReportVersion`.
 */
import { z } from 'zod';
import { SEVERITIES_WORST_FIRST, type Vulnerability, type VulnerabilitySeverity } from '../../shared/agent';
import { ScannerOutputError, worstFirst, type ScanReport, type Scanner } from './contract';

const severitySchema = z.enum(['info', 'low', 'moderate', 'high', 'critical']);

const advisorySchema = z.looseObject({
  source: z.union([z.number(), z.string()]),
  name: z.string(),
  title: z.string(),
  url: z.string().optional(),
  severity: severitySchema,
});

const reportSchema = z.looseObject({
  auditReportVersion: z.literal(2),
  vulnerabilities: z.record(
    z.string(),
    z.looseObject({ name: z.string(), severity: severitySchema, via: z.array(z.union([z.string(), advisorySchema])) }),
  ),
  metadata: z.looseObject({
    vulnerabilities: z.looseObject({
      info: z.number().int().nonnegative(),
      low: z.number().int().nonnegative(),
      moderate: z.number().int().nonnegative(),
      high: z.number().int().nonnegative(),
      critical: z.number().int().nonnegative(),
    }),
  }),
});

/** The advisory's id as people look it up: the GHSA id at the end of its URL, else npm's advisory number. */
function advisoryId(advisory: z.infer<typeof advisorySchema>): string {
  const ghsa = advisory.url?.match(/GHSA(-[23456789cfghjmpqrvwx]{4}){3}$/)?.[0];
  return ghsa ?? `npm-${advisory.source}`;
}

/** Reads `npm audit --json` output (report version 2). */
export function parseNpmAudit(stdout: string): ScanReport {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new ScannerOutputError(`npm audit printed no JSON (${stdout.trim().slice(0, 80) || 'nothing'})`);
  }
  const failed = z.looseObject({
    error: z.looseObject({ summary: z.string().optional() }),
    message: z.string().optional(),
  });
  const error = failed.safeParse(json);
  if (error.success) {
    const why = error.data.message ?? error.data.error.summary ?? 'no reason given';
    throw new ScannerOutputError(`npm audit failed: ${why.split('\n')[0]}`);
  }
  const parsed = reportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ScannerOutputError(
      `not an npm audit report version 2 (${issue?.path.join('.') || 'report'}: ${issue?.message})`,
    );
  }
  const { metadata, vulnerabilities } = parsed.data;
  const { critical, high, moderate, low, info } = metadata.vulnerabilities;
  const counts: Record<VulnerabilitySeverity, number> = { critical, high, moderate, low, info, unknown: 0 };
  const found = new Map<string, Vulnerability>();
  for (const entry of Object.values(vulnerabilities)) {
    for (const via of entry.via) {
      if (typeof via === 'string') continue;
      const id = advisoryId(via);
      found.set(`${via.name} ${id}`, { id, package: via.name, severity: via.severity, title: via.title });
    }
  }
  return { counts, top: worstFirst([...found.values()], SEVERITIES_WORST_FIRST) };
}

export const npmAudit: Scanner = {
  label: 'npm audit',
  // Reads the lockfile alone (no node_modules needed), in the lockfile's folder.
  commands: { lockfile: ['npm', 'audit', '--json', '--package-lock-only'] },
  parse: parseNpmAudit,
  scanned: (code) => code === 0 || code === 1,
};
