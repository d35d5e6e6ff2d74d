// What the self-review measures beyond the agent's figures, from the worker's own config (never from the request):
// the vulnerability scan of what each service deploys, and which services have a metrics source.
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { ReviewMeasures } from '../../shared/agent';
import { ErrorType } from '../../shared/errors';
import { describeIssue, nameSchema, versionSchema } from '../../shared/validation';
import { SCANNERS } from '../security/registry';
import { scanServices, type ScanContext } from '../security/scan';
import { metricsCoverage } from './monitoring';
import { shownPath, type OperationsConfig } from './operations';

/** The agent's part of the request: whose review, and the version it last promoted of each service. */
export const measuresRequestSchema = z
  .object({
    project: nameSchema,
    workdir: z.string().startsWith('/'),
    deployed: z.record(nameSchema, versionSchema),
  })
  .strict();
export type MeasuresRequest = z.infer<typeof measuresRequestSchema>;

/**
 * The measures of one review. Each part is null where the worker has no source for it: no opsflow.yaml, one that
 * describes another project, or (for vulnerabilities) no `security` block.
 */
export async function reviewMeasures(
  raw: MeasuresRequest,
  source: OperationsConfig | undefined,
  context: ScanContext,
): Promise<ReviewMeasures> {
  const parsed = measuresRequestSchema.safeParse(raw);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid measures request: ${describeIssue(parsed.error)}`,
      ErrorType.InvalidRequest,
    );
  }
  const { project, workdir, deployed } = parsed.data;
  const config = source?.config.project === project ? source.config : undefined;
  if (source && !config) log.warn("the worker's config describes another project: nothing measured", { project });
  const security = config?.security;
  const scans = security ? await scanServices(security, deployed, context) : null;
  for (const scan of scans ?? []) {
    if (scan.error) log.warn('vulnerability scan gave no answer', { service: scan.service, error: scan.error });
  }
  return {
    vulnerabilities: security && scans ? { scanner: SCANNERS[security.scanner].label, scans } : null,
    monitoring: config ? metricsCoverage(config) : null,
    configPath: config && source ? shownPath(workdir, source.path) : null,
  };
}
