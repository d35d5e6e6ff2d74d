/**
 * The Vercel target's record of what opsflow did, per service and environment: which deploy's release is the canary
 * (Vercel has no place to write a deploy's id on a deployment), which deploy promoted what it replaced, and the
 * rollbacks it did with their step ids. Traffic is never taken from here: which deployment serves and at what share is
 * read from Vercel at every call. The record is a JSON file in the worker's folder, replaced atomically; workers that
 * share a Vercel project share the folder.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { InvalidTargetRequest } from '../contract';

const releaseSchema = z.object({ version: z.string(), deploymentId: z.string() });
export type RecordedRelease = z.infer<typeof releaseSchema>;

const trackSchema = z.object({
  /** This deploy's release beside the stable one, and what was stable when it started. */
  canary: releaseSchema
    .extend({ deployId: z.string(), stable: releaseSchema.nullable(), startedAt: z.number() })
    .optional(),
  /** The release a deploy promoted, and the one it replaced (what its rollback puts back). */
  promoted: releaseSchema.extend({ deployId: z.string(), previous: releaseSchema.nullable() }).optional(),
  /** The rollbacks done here, newest last. */
  rollbacks: z
    .array(z.object({ deployId: z.string(), version: z.string(), rollbackId: z.string(), at: z.number() }))
    .default([]),
});
export type TrackRecord = z.infer<typeof trackSchema>;

const fileSchema = z.object({ tracks: z.record(z.string(), trackSchema) });

/** How many rollbacks each track remembers. */
const KEPT_ROLLBACKS = 100;

/** Changes to one file wait for the one before: activities of several deploys may run at once in one worker. */
const queues = new Map<string, Promise<unknown>>();

/** One Vercel project's record file. */
export class VercelRecord {
  readonly file: string;

  constructor(dir: string, project: string) {
    this.file = path.resolve(dir, `${project.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
  }

  /** The record of one service in one environment. */
  async read(key: string): Promise<TrackRecord> {
    const all = await this.load();
    return all.tracks[key] ?? { rollbacks: [] };
  }

  /** Changes one track's record; `change` returns the new record, or undefined to leave it. */
  async update(key: string, change: (track: TrackRecord) => TrackRecord | undefined): Promise<void> {
    const before = queues.get(this.file) ?? Promise.resolve();
    const next = before.then(async () => {
      const all = await this.load();
      const changed = change(all.tracks[key] ?? { rollbacks: [] });
      if (!changed) return;
      all.tracks[key] = { ...changed, rollbacks: changed.rollbacks.slice(-KEPT_ROLLBACKS) };
      await mkdir(path.dirname(this.file), { recursive: true });
      const temporary = `${this.file}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
      await rename(temporary, this.file);
    });
    queues.set(
      this.file,
      next.catch(() => undefined),
    );
    await next;
  }

  private async load(): Promise<z.infer<typeof fileSchema>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { tracks: {} };
      throw err;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new InvalidTargetRequest(`the Vercel target's record ${this.file} is not JSON: restore or remove it`);
    }
    const parsed = fileSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InvalidTargetRequest(
        `the Vercel target's record ${this.file} is damaged at ${issue?.path.join('.') ?? ''}: restore or remove it`,
      );
    }
    return parsed.data;
  }
}
