import { z } from 'zod';
import { versionSchema } from '../../../shared/validation';

/** Set by the platform for every instance; config cannot change them. */
export const PLATFORM_ENV = ['PORT', 'VERSION', 'SERVICE', 'ENVIRONMENT'] as const;

const envNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name: letters, digits and "_"')
  .refine((name) => !(PLATFORM_ENV as readonly string[]).includes(name), {
    message: `${PLATFORM_ENV.join(', ')} are set by the platform`,
  });

/**
 * `target: { kind: local, ... }`: the embedded local platform runs the service's processes behind its weighted router.
 * Its releases are the versions listed here, so a request for another version is refused when it is made.
 */
export const localTargetConfigSchema = z
  .object({
    kind: z.literal('local'),
    /** The command that runs one instance; it gets PORT, VERSION, SERVICE and ENVIRONMENT, and no other secret. */
    command: z.array(z.string().min(1)).min(1),
    /** Releases the local artifact store holds. */
    versions: z.array(versionSchema).min(1),
    /** The version live everywhere when the local platform starts. */
    initialVersion: versionSchema,
    healthPath: z.string().startsWith('/').default('/healthz'),
    /** Variables the service gets as written here (never secrets: opsflow.yaml is committed). */
    env: z.record(envNameSchema, z.string()).optional(),
    /** Variables the service gets from the platform's own environment, beyond PATH, HOME, LANG, LC_ALL, TZ, TMPDIR. */
    passEnv: z.array(envNameSchema).optional(),
  })
  .strict()
  .refine((s) => s.versions.includes(s.initialVersion), {
    message: 'initialVersion must be one of versions',
    path: ['initialVersion'],
  });
export type LocalTargetConfig = z.infer<typeof localTargetConfigSchema>;
