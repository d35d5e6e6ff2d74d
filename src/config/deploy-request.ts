import { z } from 'zod';
import { configuredReleases, type OpsflowConfig } from './schema';
import { describeIssue, nameSchema, versionSchema } from '../shared/validation';
import {
  defaultFeature,
  deployIdProblem,
  deployInputSchema,
  deployWorkflowId,
  featureSchema,
  type DeployInput,
  type EnvironmentPlan,
} from '../shared/deploy';
import { ConfigError } from './load';

/** What a person asks for on the command line. */
export const deployRequestSchema = z.object({
  service: nameSchema,
  version: versionSchema,
  feature: featureSchema.optional(),
  requestedBy: nameSchema,
  reason: z.string().max(500).optional(),
});
export type DeployRequest = z.infer<typeof deployRequestSchema>;

/** A request a person must correct; the message names the flag and what to write. */
export class RequestError extends Error {
  override name = 'RequestError';
}

const FLAGS: Record<string, string> = {
  service: '--service',
  version: '--version',
  feature: '--feature',
  requestedBy: '--requested-by',
  reason: '--reason',
};

/**
 * Checks a deploy request against the configuration and resolves everything the workflow needs, so
 * the workflow's input is complete, visible in history and free of secrets.
 */
export function buildDeployInput(
  config: OpsflowConfig,
  raw: Record<string, unknown>,
  context: { workdir: string; uiUrl?: string },
): DeployInput {
  const parsed = deployRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = FLAGS[String(issue?.path[0])] ?? String(issue?.path[0]);
    throw new RequestError(`${flag}: ${issue?.message ?? 'invalid'}`);
  }
  const request = parsed.data;
  // Own properties only: a service named like an Object property (constructor) is not a service.
  const service = Object.hasOwn(config.services, request.service) ? config.services[request.service] : undefined;
  if (!service) {
    throw new RequestError(
      `--service: unknown service "${request.service}"; opsflow.yaml defines ${Object.keys(config.services).join(', ')}`,
    );
  }
  // Only a target kind that knows its releases from the config is checked here; the others are asked by the plan.
  const releases = configuredReleases(service.target);
  if (releases && !releases.includes(request.version)) {
    throw new RequestError(
      `--version: ${request.service} has no release ${request.version}; known releases: ${releases.join(', ')}`,
    );
  }
  const environments: EnvironmentPlan[] = config.pipeline.map((name) => {
    const env = Object.hasOwn(config.environments, name) ? config.environments[name] : undefined;
    if (!env) throw new ConfigError(`pipeline names "${name}", which is not under environments`);
    return {
      name,
      strategy: env.strategy,
      approval: {
        required: env.approval.required,
        approvers: env.approval.approvers,
        allowSelfApproval: env.approval.allowSelfApproval,
        timeoutMs: env.approval.timeout,
      },
      steps: env.canary.steps,
      verifyMs: env.verify.duration,
      analysis: env.analysis,
      pauseTimeoutMs: env.pauseTimeout,
      blueGreen: { verifyMs: env.blueGreen.verify, keepBlueMs: env.blueGreen.keepBlue },
    };
  });
  const last = environments[environments.length - 1]?.name ?? 'production';
  const deployId = deployWorkflowId(request.service, request.version, last);
  // A version with ".." in its pre-release, or a long one, makes an id outside the one pattern: refused here.
  const idProblem = deployIdProblem(deployId, request);
  if (idProblem) throw new RequestError(`--version: ${idProblem}`);
  const input = {
    deployId,
    project: config.project,
    service: request.service,
    version: request.version,
    feature: request.feature ?? defaultFeature(request.service, request.version),
    requestedBy: request.requestedBy,
    workdir: context.workdir,
    environments,
    ...(request.reason ? { reason: request.reason } : {}),
    ...(context.uiUrl ? { uiUrl: context.uiUrl } : {}),
  };
  const checked = deployInputSchema.safeParse(input);
  if (!checked.success) throw new RequestError(describeIssue(checked.error));
  return checked.data;
}
