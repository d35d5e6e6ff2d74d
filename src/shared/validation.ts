import { z } from 'zod';

/** A semantic version such as 1.2.0 or 2.0.0-rc.1. */
export const versionSchema = z
  .string()
  .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, 'must be a semantic version such as 1.2.0');

/** Names every plain object answers to (constructor, toString, ...): a lookup by such a name finds Object's. */
const OBJECT_PROPERTIES = new Set(Object.getOwnPropertyNames(Object.prototype).map((n) => n.toLowerCase()));

/** Names used in ids and paths: services, environments, projects, people. */
export const nameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/i,
    'must be letters, digits, ".", "_" or "-" (at most 63), starting with a letter or digit',
  )
  .refine(
    (name) => !OBJECT_PROPERTIES.has(name.toLowerCase()),
    'is reserved (a JavaScript property name): choose another',
  );

/**
 * A deploy's workflow id, as deployWorkflowId builds it (`deploy-<service>-<version>-<environment>`): it names folders
 * (LLM audit files) and travels in paths, so it is one safe path segment.
 */
export const deployIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/,
    'must be letters, digits, ".", "_" or "-" (at most 200), as deploy-<service>-<version>-<environment>',
  )
  .refine((id) => !id.includes('..'), 'must not contain ".."');

/** One line naming the first problem: "environments.production.canary.steps.1.weight: weights must increase". */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
