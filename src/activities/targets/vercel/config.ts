import { z } from 'zod';

/** A host name as Vercel aliases and domains are written: `staging.example.com`, `my-app.vercel.app`. */
const hostSchema = z
  .string()
  .max(253)
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be a host name such as staging.example.com (no scheme, no path)',
  );

/**
 * What a release is in one environment:
 * - `alias`: a deployment (a preview, usually) becomes the environment by the alias pointing at it, e.g.
 *   `staging.example.com`; the switch is all at once (0 or 100 %), rolled back by pointing the alias back.
 * - `rolling-release`: production, through Vercel's Rolling Releases: the environment's canary steps become the
 *   rolling release's stages (manual approval), each approved only when opsflow's judgement passes; a failing one
 *   aborts it (traffic back on the current production deployment). `domain` is a production domain of the project.
 * - `promote`: production without rolling releases (blue-green): promote, verify, instant rollback to the previous
 *   production deployment on failure.
 */
export const vercelEnvironmentSchema = z.discriminatedUnion('release', [
  z.object({ release: z.literal('alias'), alias: hostSchema }).strict(),
  z.object({ release: z.literal('rolling-release'), domain: hostSchema }).strict(),
  z.object({ release: z.literal('promote'), domain: hostSchema }).strict(),
]);
export type VercelEnvironment = z.infer<typeof vercelEnvironmentSchema>;

/**
 * `target: { kind: vercel, ... }`: the project's deployments on Vercel, driven through Vercel's REST API with its
 * official TypeScript SDK (`@vercel/sdk`). A version is the deployment whose meta `opsflow.version` (or git commit
 * sha) it is; opsflow never builds. The token is read from the worker's environment by the variable `token` names, at
 * each call: it is never in a request, a workflow's history or the requester's config.
 */
export const vercelTargetConfigSchema = z
  .object({
    kind: z.literal('vercel'),
    /** The team: its id (`team_...`) or its slug. */
    team: z.string().min(1),
    /** The project: its id (`prj_...`) or its name. */
    project: z.string().min(1),
    /** The name of the worker's environment variable that holds the Vercel access token. */
    token: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'name the environment variable that holds the token, e.g. VERCEL_TOKEN'),
    /** What a release is in each environment of opsflow.yaml that deploys to Vercel. */
    environments: z.record(z.string(), vercelEnvironmentSchema),
    /** Where the target keeps its record of which deploy owns what (relative to the worker's folder). */
    record: z.string().min(1).default('.opsflow/vercel'),
    /** Vercel's API; tests point it at a server on loopback (the only place plain http may carry the token). */
    apiUrl: z
      .url({ protocol: /^https?$/ })
      .refine(
        (url) => url.startsWith('https:') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(url),
        'use https (plain http only to a loopback address): the token travels with every request',
      )
      .default('https://api.vercel.com'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const production = Object.entries(config.environments).filter(([, env]) => env.release !== 'alias');
    if (production.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['environments'],
        message: `a Vercel project has one production: only one of ${production.map(([name]) => name).join(', ')} may use rolling-release or promote`,
      });
    }
  });
export type VercelTargetConfig = z.infer<typeof vercelTargetConfigSchema>;
