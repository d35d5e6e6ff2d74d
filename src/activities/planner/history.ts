import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** One earlier deploy of a service, as its report.json tells it. */
export interface RecentDeploy {
  deployId: string;
  version: string;
  outcome: string;
  reason: string;
  endedAt: string;
  feature: string;
}

/** The fields of report.json the planner reads; anything else in it may change freely. */
const reportSchema = z.object({
  schema: z.literal('opsflow.deploy-report/v1'),
  deployId: z.string(),
  project: z.string(),
  service: z.string(),
  version: z.string(),
  feature: z.string(),
  outcome: z.string().optional(),
  reason: z.string().optional(),
  endedAt: z.string().optional(),
});

/**
 * The service's recent deploys, newest first, from the report.json files earlier runs left under
 * `<workdir>/.agency/handoff/<feature>/devops-automator/`. Unreadable or foreign files are skipped.
 */
export function recentDeploys(
  workdir: string,
  query: { project: string; service: string; limit?: number; sinceMs?: number },
): RecentDeploy[] {
  const root = path.join(workdir, '.agency', 'handoff');
  if (!existsSync(root)) return [];
  const found: RecentDeploy[] = [];
  for (const feature of readdirSync(root)) {
    const file = path.join(root, feature, 'devops-automator', 'report.json');
    if (!existsSync(file)) continue;
    let parsed;
    try {
      parsed = reportSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    } catch {
      continue;
    }
    if (!parsed.success) continue;
    const r = parsed.data;
    if (r.project !== query.project || r.service !== query.service || !r.outcome || !r.endedAt) continue;
    if (query.sinceMs !== undefined && Date.parse(r.endedAt) < query.sinceMs) continue;
    found.push({
      deployId: r.deployId,
      version: r.version,
      outcome: r.outcome,
      reason: r.reason ?? '',
      endedAt: r.endedAt,
      feature: r.feature,
    });
  }
  found.sort((a, b) => b.endedAt.localeCompare(a.endedAt));
  return found.slice(0, query.limit ?? 10);
}
