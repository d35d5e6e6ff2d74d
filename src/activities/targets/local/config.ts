import { z } from 'zod';
import { versionSchema } from '../../../shared/validation';

/**
 * `target: { kind: local, ... }`: the embedded local platform runs the service's processes behind its weighted router.
 * Its releases are the versions listed here, so a request for another version is refused when it is made.
 */
export const localTargetConfigSchema = z
  .object({
    kind: z.literal('local'),
    /** The command that runs one instance; it gets PORT, VERSION, SERVICE and ENVIRONMENT. */
    command: z.array(z.string().min(1)).min(1),
    /** Releases the local artifact store holds. */
    versions: z.array(versionSchema).min(1),
    /** The version live everywhere when the local platform starts. */
    initialVersion: versionSchema,
    healthPath: z.string().startsWith('/').default('/healthz'),
  })
  .strict()
  .refine((s) => s.versions.includes(s.initialVersion), {
    message: 'initialVersion must be one of versions',
    path: ['initialVersion'],
  });
export type LocalTargetConfig = z.infer<typeof localTargetConfigSchema>;
