import { z } from 'zod';
import { durationBetween } from '../../../shared/analysis-config';
import { nameSchema } from '../../../shared/validation';
import { envVarNameSchema } from '../credentials';
import { sendableUrlSchema } from '../http';

/** The variable the token is read from when the config names neither a variable nor a file. */
export const DEFAULT_GITHUB_TOKEN_ENV = 'GITHUB_TOKEN';

/** GitHub's REST API; GitHub Enterprise Server answers at https://<host>/api/v3. */
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

/** The ref a deployment names: the release's tag, as examples/github-actions tags them (v1.2.0). */
export const DEFAULT_REF_TEMPLATE = 'v{{version}}';

/** What a ref template may say besides its own text. */
export const REF_PLACEHOLDERS = ['version', 'service'] as const;

const TOKEN_IN_CONFIG =
  'the token does not belong in opsflow.yaml: name a variable of the worker with tokenEnv ' +
  `(default ${DEFAULT_GITHUB_TOKEN_ENV}) or a file with tokenFile`;

/** A ref template: git ref characters and {{version}} (required: a deployment records which release went out). */
const refTemplateSchema = z
  .string()
  .min(1)
  .max(200)
  .refine(
    (t) => [...t.matchAll(/\{\{([^}]*)\}\}/g)].every((m) => (REF_PLACEHOLDERS as readonly string[]).includes(m[1]!)),
    'may use only {{version}} and {{service}}',
  )
  .refine(
    (t) => t.includes('{{version}}'),
    'must contain {{version}}, e.g. v{{version}}: a deployment records which release went out',
  )
  .refine(
    (t) => /^[A-Za-z0-9._/-]+$/.test(t.replace(/\{\{(version|service)\}\}/g, 'x')) && !t.includes('..'),
    'must be a tag, branch or SHA made of letters, digits, ".", "_", "-" and "/"',
  );

/**
 * `notifications.channels.<name>: { kind: github, ... }`: one GitHub deployment per deploy and environment in
 * `repository`, with statuses as the deploy moves (see channel.ts). The token (a fine-grained token with "Deployments:
 * write", a classic one with repo_deployment, or a GitHub App's installation token) is the worker's: read from
 * `tokenEnv` (default GITHUB_TOKEN) or `tokenFile`, never written here.
 */
export const githubChannelConfigSchema = z
  .object({
    kind: z.literal('github'),
    /** The repository whose Environments page shows the deploys: owner/name. */
    repository: z
      .string()
      .regex(
        /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/,
        'must be owner/name, as in https://github.com/owner/name',
      )
      .refine((r) => !r.endsWith('.git') && !/\/\.\.?$/.test(r), 'must be owner/name, without .git'),
    /** The worker's environment variable holding the token. */
    tokenEnv: envVarNameSchema.optional(),
    /** A file of the worker holding the token (mode 600), for hosts that mount secrets as files. */
    tokenFile: z.string().min(1).optional(),
    /** The REST API's base URL; tests point it at a local server. */
    apiUrl: sendableUrlSchema().default(DEFAULT_GITHUB_API_URL),
    /** The ref each deployment names, from the deploy's version (and service): a tag, a branch or a SHA. */
    ref: refTemplateSchema.default(DEFAULT_REF_TEMPLATE),
    /** Where people reach each environment, shown on GitHub as the deployment's link ("View deployment"). */
    environmentUrls: z
      .record(nameSchema, z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }))
      .optional(),
    /** One request's time limit, answer included. */
    timeout: durationBetween(100, 60_000).default(10_000),
    token: z.never({ error: TOKEN_IN_CONFIG }).optional(),
  })
  .strict()
  .refine((c) => c.tokenEnv === undefined || c.tokenFile === undefined, {
    message: 'give tokenEnv or tokenFile, not both',
  });
export type GithubChannelConfig = z.infer<typeof githubChannelConfigSchema>;
