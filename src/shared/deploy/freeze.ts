/**
 * Stop the line: freeze windows in the worker's policy (a date range, or a weekly window in a time zone) during which
 * nothing reaches an environment unless enough approvers sign a break-glass override. Pure and workflow-safe: the
 * deploy judges a freeze at its own (deterministic) time, and the activity that would change the environment judges
 * it again by its own worker's policy.
 */
import { z } from 'zod';
import { incidentHolding, type IncidentFreeze } from '../agent/freeze';
import { nameSchema } from '../validation';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'a time of day as HH:MM (00:00 to 24:00)');

/** A time zone the runtime knows (IANA, e.g. Europe/Berlin). */
const timeZoneSchema = z.string().refine(
  (zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'an IANA time zone, e.g. Europe/Berlin or UTC' },
);

export const freezeSchema = z
  .object({
    name: nameSchema,
    /** The environments it holds; absent: every environment that needs approval. */
    environments: z.array(nameSchema).min(1).optional(),
    /** A date range: from (inclusive) to (exclusive), ISO 8601 with an offset. */
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    /** Every week on these days, from..to local time (to before from spans midnight), in this time zone. */
    weekly: z
      .object({ days: z.array(z.enum(DAYS)).min(1), from: clock, to: clock, timeZone: timeZoneSchema.default('UTC') })
      .strict()
      .optional(),
    /** Distinct approvers' signed overrides that let a deploy through while it holds (break glass). */
    breakGlass: z.number().int().min(1).max(20).default(2),
  })
  .strict()
  .refine((f) => (f.weekly ? !f.from && !f.to : Boolean(f.from && f.to)), {
    message: 'give either from and to (a date range) or weekly (days, from, to, timeZone)',
  })
  .refine((f) => !f.from || !f.to || Date.parse(f.from) < Date.parse(f.to), { message: 'from must be before to' });
export type Freeze = z.infer<typeof freezeSchema>;

/** A freeze holding an environment now, and when it lets go (epoch ms). */
export interface ActiveFreeze {
  name: string;
  untilMs: number;
  breakGlass: number;
}

/** The local weekday (0 = Sunday) and minute of the day of an instant in a time zone. */
function localTime(nowMs: number, timeZone: string): { day: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(nowMs));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = DAYS.indexOf(part('weekday').toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
  return { day, minute: Number(part('hour')) * 60 + Number(part('minute')) };
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * When a weekly window holding `nowMs` ends, or undefined when it does not hold. A window from 18:00 to 08:00 on fri
 * holds from Friday 18:00 to Saturday 08:00. The end is counted in wall-clock minutes: across a daylight-saving change
 * it can be an hour off, and the deploy judges the freeze again when it wakes.
 */
function weeklyUntil(weekly: NonNullable<Freeze['weekly']>, nowMs: number): number | undefined {
  const { day, minute } = localTime(nowMs, weekly.timeZone);
  const from = minutes(weekly.from);
  const to = minutes(weekly.to);
  const on = (d: number) => weekly.days.includes(DAYS[(d + 7) % 7] as (typeof DAYS)[number]);
  const endIn = (endMinute: number) => nowMs + (endMinute - minute) * 60_000 - (nowMs % 60_000);
  if (from < to) return on(day) && minute >= from && minute < to ? endIn(to) : undefined;
  // Spans midnight: the evening of a listed day, or the morning after one.
  if (on(day) && minute >= from) return endIn(24 * 60 + to);
  if (on(day - 1) && minute < to) return endIn(to);
  return undefined;
}

/** The freeze holding `environment` at `nowMs` that lets go last, if any. */
export function activeFreeze(
  freezes: readonly Freeze[] | undefined,
  environment: string,
  protectedEnvironment: boolean,
  nowMs: number,
): ActiveFreeze | undefined {
  let found: ActiveFreeze | undefined;
  for (const freeze of freezes ?? []) {
    const holds = freeze.environments ? freeze.environments.includes(environment) : protectedEnvironment;
    if (!holds) continue;
    const untilMs = freeze.weekly
      ? weeklyUntil(freeze.weekly, nowMs)
      : nowMs >= Date.parse(freeze.from ?? '') && nowMs < Date.parse(freeze.to ?? '')
        ? Date.parse(freeze.to ?? '')
        : undefined;
    if (untilMs !== undefined && (!found || untilMs > found.untilMs)) {
      found = { name: freeze.name, untilMs, breakGlass: freeze.breakGlass };
    }
  }
  return found;
}

/** What holds an environment now: a window (it says when it ends) or an incident freeze (until someone ends it). */
export interface HoldingFreeze {
  name: string;
  untilMs?: number;
  breakGlass: number;
}

/**
 * The window of the worker's policy holding `environment` at `nowMs`, else the project's incident freeze holding it
 * (named by its id and reason, passed with `incidentBreakGlass` overrides), else undefined. The deploy judges it before
 * it starts an environment; the activity that would start a release judges it again.
 */
export function holdingFreeze(
  windows: readonly Freeze[] | undefined,
  incidents: readonly IncidentFreeze[],
  environment: string,
  protectedEnvironment: boolean,
  nowMs: number,
  incidentBreakGlass: number,
): HoldingFreeze | undefined {
  const window = activeFreeze(windows, environment, protectedEnvironment, nowMs);
  if (window) return { name: window.name, untilMs: window.untilMs, breakGlass: window.breakGlass };
  const incident = incidentHolding(incidents, environment, protectedEnvironment);
  return incident ? { name: `${incident.id}: ${incident.reason}`, breakGlass: incidentBreakGlass } : undefined;
}
