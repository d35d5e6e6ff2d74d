/**
 * The platform's durable state: which versions run where, at what weight, owned by which deploy. Written to
 * `<state-dir>/state.json` on every change (write to a temporary file, then rename, so a crash never leaves half a
 * file), read back at start so a restarted platform brings back the same releases.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { describeIssue, nameSchema, versionSchema } from '../shared/validation';
import { deployIdSchema, platformEventSchema, weightSchema } from './api';

const releaseRefSchema = z.object({ version: versionSchema, deployId: deployIdSchema.nullable() });

/** One track in state.json. */
export const persistedTrackSchema = z.object({
  environment: nameSchema,
  service: nameSchema,
  stable: releaseRefSchema.extend({ since: z.number() }),
  previousStable: releaseRefSchema.nullable(),
  canary: z
    .object({
      version: versionSchema,
      deployId: deployIdSchema,
      weight: weightSchema,
      startedAt: z.number(),
      weightChangedAt: z.number(),
    })
    .nullable(),
  events: z.array(platformEventSchema),
});

const persistedStateSchema = z.object({
  format: z.literal(1),
  savedAt: z.number(),
  tracks: z.array(persistedTrackSchema),
});

/** One track as saved: versions and owners, not processes (those are started again on restore). */
export type PersistedTrack = z.infer<typeof persistedTrackSchema>;

/** The state file could not be read; the message names the file and what to do. */
export class StateFileError extends Error {
  override name = 'StateFileError';
}

/** Reads and writes `<state-dir>/state.json`. */
export class StateStore {
  readonly file: string;

  constructor(stateDir: string) {
    this.file = path.join(path.resolve(stateDir), 'state.json');
  }

  /** The saved tracks, or an empty list when there is no state file yet. */
  load(): PersistedTrack[] {
    if (!existsSync(this.file)) return [];
    const fix = 'fix it or delete it to start every service from its initialVersion';
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new StateFileError(`${this.file}: not readable JSON (${(err as Error).message}); ${fix}`);
    }
    const result = persistedStateSchema.safeParse(raw);
    if (!result.success) throw new StateFileError(`${this.file}: ${describeIssue(result.error)}; ${fix}`);
    return result.data.tracks;
  }

  /** Replaces the file atomically. Synchronous on purpose: state is small and this keeps writes in change order. */
  save(tracks: PersistedTrack[]): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ format: 1, savedAt: Date.now(), tracks }, null, 2)}\n`, {
      mode: 0o600,
    });
    renameSync(temporary, this.file);
  }
}
