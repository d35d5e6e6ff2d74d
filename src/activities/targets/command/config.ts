import { z } from 'zod';
import { durationSchema } from '../../../shared/duration';

/** The placeholders each operation's argv may use; anything else is refused when the config loads. */
export const HOOK_PLACEHOLDERS = {
  releases: ['service'],
  status: ['service', 'environment'],
  start: ['service', 'environment', 'version', 'deployId'],
  setWeight: ['service', 'environment', 'version', 'deployId', 'weight'],
  promote: ['service', 'environment', 'version', 'deployId'],
  rollback: ['service', 'environment', 'version', 'deployId', 'rollbackId'],
} as const;
export type HookName = keyof typeof HOOK_PLACEHOLDERS;
export type Placeholder = (typeof HOOK_PLACEHOLDERS)[HookName][number];

/** `{{ name }}` in an argv element. */
export const PLACEHOLDER_PATTERN = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** The worker's environment variables a command gets when the config names none: enough to find programs. */
export const DEFAULT_PASS_ENV = ['PATH', 'HOME', 'LANG'];

/**
 * The default time one command may take. An operation runs up to four commands (status, the change, status; a
 * rollback also sets the weight to 0) inside its activity's timeout: 1 minute, 30 s for a rollback.
 */
export const DEFAULT_HOOK_TIMEOUT_MS = 10_000;

/** One operation's command: an argv array, or `{ argv, timeout }` to give it a timeout of its own. */
function hookSchema(name: HookName) {
  const allowed: readonly string[] = HOOK_PLACEHOLDERS[name];
  const argv = z
    .array(z.string())
    .min(1, 'name the program and its arguments, e.g. [./deploy.sh, "{{version}}"]')
    .refine((a) => (a[0] ?? '').length > 0, 'the program (argv[0]) must not be empty')
    .superRefine((args, ctx) => {
      args.forEach((arg, i) => {
        for (const [whole, placeholder] of arg.matchAll(PLACEHOLDER_PATTERN)) {
          if (!allowed.includes(placeholder ?? '')) {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `unknown placeholder ${whole} in ${name}: use ${allowed.map((p) => `{{${p}}}`).join(', ')}`,
            });
          }
        }
      });
    });
  // A bare array is the short form of { argv }.
  return z.preprocess(
    (value) => (Array.isArray(value) ? { argv: value } : value),
    z.object({ argv, timeout: durationSchema.optional() }).strict(),
  );
}

/**
 * `target: { kind: command, ... }`: opsflow runs commands of the user's own for each operation — a script, `helm`,
 * `flyctl`, `vercel`, `terraform` — for platforms it has no kind for. Each command is an argv array run without a
 * shell (write `[sh, -c, "..."]` to have one), with `{{service}}`, `{{environment}}`, `{{version}}`, `{{weight}}` and
 * `{{deployId}}` filled in (also given as OPSFLOW_SERVICE, OPSFLOW_ENVIRONMENT, OPSFLOW_VERSION, OPSFLOW_WEIGHT,
 * OPSFLOW_DEPLOY_ID and OPSFLOW_OPERATION). The contract each command keeps is in target.ts.
 */
export const commandTargetConfigSchema = z
  .object({
    kind: z.literal('command'),
    /** Prints what runs, as JSON on stdout (see target.ts); read before every change and after it. */
    status: hookSchema('status'),
    /** Starts `{{version}}` beside the stable release at 0 % traffic, labelled with `{{deployId}}`. */
    start: hookSchema('start'),
    /** Routes `{{weight}}` % to the canary of `{{deployId}}`. */
    setWeight: hookSchema('setWeight'),
    /** Makes the canary the stable release at 100 %, remembering the previous stable release. */
    promote: hookSchema('promote'),
    /**
     * Stops the canary of `{{deployId}}` (already at 0 %), or puts back the release this deploy's promotion replaced;
     * where status prints `rollbacks`, adds one with `{{rollbackId}}` (the same on each retry of the step).
     */
    rollback: hookSchema('rollback'),
    /** Optional: prints the versions that can be deployed, a JSON array of strings; without it no release is checked. */
    releases: hookSchema('releases').optional(),
    /** The folder commands run in, relative to the folder the worker (or the CLI) runs in. */
    cwd: z.string().min(1).default('.'),
    /** The only variables of the worker's environment a command gets (never its Temporal or LLM keys unless named). */
    passEnv: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'))
      .default(DEFAULT_PASS_ENV),
    /** How long one command may run before its process group is killed (then the operation is retried). */
    timeout: durationSchema.default(DEFAULT_HOOK_TIMEOUT_MS),
  })
  .strict();
export type CommandTargetConfig = z.infer<typeof commandTargetConfigSchema>;
export type HookConfig = CommandTargetConfig['status'];
