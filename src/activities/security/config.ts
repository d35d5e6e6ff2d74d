import { z } from 'zod';
import { durationBetween } from '../../shared/analysis-config';
import { nameSchema } from '../../shared/validation';
import { SCANNER_NAMES, SCANNERS } from './registry';

/** `{{name}}` in a scanner's command. */
export const SCAN_PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const PLACEHOLDERS = ['lockfile', 'image', 'service', 'version'];

/** The longest one scan may take; the review's activity allows a little more. */
export const MAX_SCAN_MS = 300_000;

const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** What the scanner reads for one service: its lockfile (relative to the worker's folder) or its image reference. */
const scanSubjectSchema = z
  .object({
    lockfile: z.string().min(1).optional(),
    /** An image reference; {{version}} is the version the agent last promoted. */
    image: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => (s.lockfile === undefined) !== (s.image === undefined), {
    message: 'name either lockfile or image',
  });

/**
 * `security` in opsflow.yaml: the vulnerability scan the worker runs for each daily self-review on what each service
 * deploys. Only the worker reads it; nothing here travels in a workflow's input.
 */
export const securityConfigSchema = z
  .object({
    /** Whose JSON the worker reads. */
    scanner: z.enum(SCANNER_NAMES),
    /**
     * The command, when not the scanner's own default: run without a shell in the lockfile's folder (the worker's for
     * an image); {{lockfile}}, {{image}}, {{service}} and {{version}} are filled in.
     */
    command: z
      .array(z.string().min(1))
      .min(1)
      .superRefine((argv, ctx) => {
        for (const arg of argv) {
          for (const [whole, name] of arg.matchAll(SCAN_PLACEHOLDER)) {
            if (!PLACEHOLDERS.includes(name ?? '')) {
              ctx.addIssue({
                code: 'custom',
                message: `unknown placeholder ${whole}: use {{${PLACEHOLDERS.join('}}, {{')}}}`,
              });
            }
          }
        }
      })
      .optional(),
    timeout: durationBetween(1_000, MAX_SCAN_MS).default(120_000),
    /** Variables the scanner gets from the worker's environment, beyond PATH, HOME, LANG, LC_ALL, TZ, TMPDIR. */
    passEnv: z.array(envNameSchema).default([]),
    /** What to scan, per service. */
    services: z.record(nameSchema, scanSubjectSchema),
  })
  .strict()
  .superRefine((block, ctx) => {
    if (block.command) return;
    const scanner = SCANNERS[block.scanner];
    for (const [service, subject] of Object.entries(block.services)) {
      const kind = subject.lockfile !== undefined ? 'lockfile' : 'image';
      if (!scanner.commands[kind]) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', service, kind],
          message: `${scanner.label} cannot scan an ${kind}: name a lockfile, or set security.command`,
        });
      }
    }
  });
export type SecurityConfig = z.infer<typeof securityConfigSchema>;
