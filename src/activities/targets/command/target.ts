import path from 'node:path';
import { z } from 'zod';
import {
  InvalidTargetRequest,
  isWeight,
  TargetConflict,
  UnknownRelease,
  type DeployRef,
  type DeployTarget,
  type PromoteResult,
  type ReleaseRef,
  type RollbackRef,
  type RollbackResult,
  type StartResult,
  type TargetStatus,
  type TrackRef,
  type WeightRef,
  type WeightResult,
} from '../contract';
import type { CommandTargetConfig, HookConfig, HookName, Placeholder } from './config';
import { fillArgv, lastLines, passThrough, runHook } from './run';

/** What the `status` command prints on stdout: one JSON object. */
export const hookStatusSchema = z.object({
  /** The release that takes the traffic the canary does not; `deployId` is the deploy that promoted it (null: none). */
  stable: z
    .object({ version: z.string().min(1), deployId: z.string().min(1).nullable().optional() })
    .nullable()
    .optional(),
  /** The new release beside it, or null; `changedAt` (epoch ms) is when its weight last changed, if the command knows. */
  canary: z
    .object({
      version: z.string().min(1),
      weight: z.number().int().min(0).max(100),
      deployId: z.string().min(1),
      changedAt: z.number().int().nonnegative().optional(),
    })
    .nullable()
    .optional(),
  /**
   * Optional: the rollbacks the platform did, newest last, as many as it keeps: whose release, of which version, by
   * which rollback step (the `rollbackId` the rollback command was given) and when (epoch ms). A rollback retried after
   * its first attempt did the work (whose answer was lost) finds its step here and says so; without the list opsflow
   * says it cannot tell.
   */
  rollbacks: z
    .array(
      z.object({
        deployId: z.string().min(1),
        version: z.string().min(1),
        rollbackId: z.string().min(1),
        at: z.number().int().nonnegative().optional(),
      }),
    )
    .optional(),
});
export type HookStatus = z.infer<typeof hookStatusSchema>;

/** What the `releases` command prints on stdout: a JSON array of versions. */
export const hookReleasesSchema = z.array(z.string().min(1));

/** The exit code that asks for a retry (sysexits.h EX_TEMPFAIL). */
export const EX_TEMPFAIL = 75;

/** A command asked to be run again later (exit 75), or did not finish in time: Temporal retries the operation. */
export class CommandRetry extends Error {
  override name = 'CommandRetry';
}

/** Where the commands run and what they get besides their own config. */
export interface CommandTargetOptions {
  /** The environments opsflow.yaml defines; any other is refused. */
  environments: readonly string[];
  /** What `cwd` is relative to (default: the process's working directory). */
  baseDir?: string;
  /** The environment the allow-list picks from (default: the process's). */
  env?: NodeJS.ProcessEnv;
  /** An upper bound on every command's timeout (the CLI's quick checks). */
  timeoutMs?: number;
}

type Values = Partial<Record<Placeholder, string>>;

/**
 * A deploy target driven by the user's own commands (`target.kind: command`), for any platform opsflow has no kind
 * for. The commands do the work; this class keeps the contract of `DeployTarget` around them, reading `status` before
 * each change (so every operation is idempotent per deploy id and a conflict is a typed error, whatever the commands
 * do) and after it (so a change that did not take is not reported as done).
 *
 * The contract each command keeps:
 * - It runs without a shell, in `cwd`, with only the variables named in `passEnv` plus OPSFLOW_OPERATION,
 *   OPSFLOW_SERVICE, OPSFLOW_ENVIRONMENT and, when the operation has them, OPSFLOW_VERSION, OPSFLOW_DEPLOY_ID,
 *   OPSFLOW_WEIGHT and OPSFLOW_ROLLBACK_ID; the same values fill `{{service}}`, `{{environment}}`, `{{version}}`,
 *   `{{deployId}}`, `{{weight}}`, `{{rollbackId}}`.
 * - Exit 0: done. Exit 75 (EX_TEMPFAIL): not now, try again — the operation is retried by Temporal, as it is when
 *   the command outlives its timeout (its process group is killed first). Any other exit code, or a program that
 *   cannot start: the operation fails for good (InvalidTargetRequest) with the last lines of stderr in the error.
 * - `status` prints `{"stable": {"version", "deployId"?} | null, "canary": {"version", "weight", "deployId",
 *   "changedAt"?} | null, "rollbacks"?: [{"deployId", "version", "rollbackId", "at"?}]}` on stdout; anything else
 *   fails for good, naming what is wrong. `rollbacks`, the rollbacks the platform did (newest last), is how a retried
 *   rollback whose first attempt did the work knows it; a status without it makes such a retry say it cannot tell.
 * - `start` starts the version at 0 % traffic as the canary of the deploy id; `setWeight` routes the weight to it;
 *   `promote` makes it stable (recording the deploy id and the release it replaced); `rollback` stops the deploy's
 *   canary (opsflow has set its weight to 0 first) or, when the deploy promoted, puts the replaced release back,
 *   and adds it, with its rollbackId, to `rollbacks` where status prints them.
 *   Each is called only when `status` shows it is needed, and a retry may call it again: it must be idempotent.
 * - `releases`, optional, prints a JSON array of the versions that can be deployed.
 */
export class CommandTarget implements DeployTarget {
  readonly kind = 'command';
  private readonly cwd: string;

  constructor(
    private readonly config: CommandTargetConfig,
    private readonly options: CommandTargetOptions,
  ) {
    this.cwd = path.resolve(options.baseDir ?? process.cwd(), config.cwd);
  }

  /** The status command for `ref` as it runs, and where: for people checking a config. */
  describeStatus(ref: TrackRef): { cwd: string; argv: string[] } {
    return { cwd: this.cwd, argv: fillArgv(this.config.status.argv, { ...ref }) };
  }

  async releases(service: string): Promise<readonly string[] | undefined> {
    if (!this.config.releases) return undefined;
    const stdout = await this.run('releases', { service });
    return parseJson(stdout, hookReleasesSchema, 'releases', 'a JSON array of versions');
  }

  async status(ref: TrackRef): Promise<TargetStatus> {
    this.knownEnvironment(ref);
    const stdout = await this.run('status', { service: ref.service, environment: ref.environment });
    const { stable, canary } = parseJson(stdout, hookStatusSchema, 'status', 'JSON with stable and canary');
    return {
      stable: stable ? { version: stable.version, deployId: stable.deployId ?? null } : null,
      canary: canary ? { version: canary.version, weight: canary.weight, deployId: canary.deployId } : null,
    };
  }

  async startRelease(ref: ReleaseRef): Promise<StartResult> {
    this.knownEnvironment(ref);
    await this.holds(ref);
    const now = await this.read(ref);
    const canary = now.canary;
    if (canary) {
      if (canary.deployId !== ref.deployId) {
        throw new TargetConflict('canary-busy', `${where(ref)}: deploy ${canary.deployId}'s ${canary.version} runs`);
      }
      if (canary.version !== ref.version) {
        throw new TargetConflict('version-mismatch', `${where(ref)}: this deploy's canary is ${canary.version}`);
      }
      return { alreadyPromoted: false, detail: `${canary.version} runs beside ${stableOf(now)} at ${canary.weight} %` };
    }
    if (now.stable?.version === ref.version) {
      if (now.stable.deployId === ref.deployId) {
        return { alreadyPromoted: true, detail: `${ref.version} already runs as stable` };
      }
      throw new TargetConflict('already-stable', `${where(ref)}: ${ref.version} already runs as the stable release`);
    }
    await this.run('start', values(ref));
    const after = await this.read(ref);
    if (after.canary?.deployId !== ref.deployId || after.canary.version !== ref.version) {
      throw this.unconfirmed('start', `a canary ${ref.version} of ${ref.deployId}`, after);
    }
    return {
      alreadyPromoted: false,
      detail: `${ref.version} runs beside ${stableOf(after)} at ${after.canary.weight} %`,
    };
  }

  async setWeight(ref: WeightRef): Promise<WeightResult> {
    if (!isWeight(ref.weight)) {
      throw new InvalidTargetRequest(`route ${ref.weight} % in ${ref.environment}: use a whole number from 0 to 100`);
    }
    this.knownEnvironment(ref);
    const now = await this.read(ref);
    const canary = this.ownCanary(now, ref);
    if (canary.weight === ref.weight) return changed(ref.weight, canary.changedAt);
    await this.run('setWeight', { ...values(ref), version: canary.version, weight: String(ref.weight) });
    const after = await this.read(ref);
    if (after.canary?.deployId !== ref.deployId || after.canary.weight !== ref.weight) {
      throw this.unconfirmed('setWeight', `the canary of ${ref.deployId} at ${ref.weight} %`, after);
    }
    return changed(ref.weight, after.canary.changedAt);
  }

  async promote(ref: ReleaseRef): Promise<PromoteResult> {
    this.knownEnvironment(ref);
    await this.holds(ref);
    const now = await this.read(ref);
    if (now.stable?.version === ref.version && now.stable.deployId === ref.deployId) {
      return { detail: `${ref.version} is stable at 100 % (promoted before)` };
    }
    const canary = this.ownCanary(now, ref);
    if (canary.version !== ref.version) {
      throw new TargetConflict('version-mismatch', `${where(ref)}: this deploy's canary is ${canary.version}`);
    }
    await this.run('promote', values(ref));
    const after = await this.read(ref);
    if (after.stable?.version !== ref.version || after.stable.deployId !== ref.deployId) {
      throw this.unconfirmed('promote', `${ref.version} stable by ${ref.deployId}`, after);
    }
    return { detail: `${ref.version} is stable at 100 %` };
  }

  async rollback(ref: RollbackRef): Promise<RollbackResult> {
    this.knownEnvironment(ref);
    const now = await this.read(ref);
    const base = { service: ref.service, environment: ref.environment, deployId: ref.deployId };
    const step = { ...base, rollbackId: ref.rollbackId };
    if (now.canary?.deployId === ref.deployId) {
      const { version } = now.canary;
      // Traffic first: the canary takes none before it is stopped.
      let weightZeroAt = now.canary.weight === 0 ? now.canary.changedAt : undefined;
      if (now.canary.weight > 0) {
        await this.run('setWeight', { ...base, version, weight: '0' });
        weightZeroAt = (await this.read(ref)).canary?.changedAt ?? Date.now();
      }
      await this.run('rollback', { ...step, version });
      const after = await this.read(ref);
      if (after.canary?.deployId === ref.deployId)
        throw this.unconfirmed('rollback', 'no canary of this deploy', after);
      return {
        rolledBack: true,
        by: 'this-attempt',
        version,
        ...(weightZeroAt === undefined ? {} : { weightZeroAt }),
        detail: `canary traffic 0 %, ${version} stopped, ${stableOf(after)} serves`,
      };
    }
    if (now.stable?.deployId === ref.deployId) {
      const { version } = now.stable;
      await this.run('rollback', { ...step, version });
      const weightZeroAt = Date.now();
      const after = await this.read(ref);
      if (after.stable?.deployId === ref.deployId) {
        throw this.unconfirmed('rollback', `a stable release other than ${version}`, after);
      }
      const detail = `${version} stopped, ${stableOf(after)} restored as stable`;
      return { rolledBack: true, by: 'this-attempt', version, weightZeroAt, detail };
    }
    return this.rolledBackBefore(now, ref);
  }

  /**
   * Nothing of this deploy runs: the status's own record of rollbacks tells whether an earlier attempt of this step
   * rolled it back (a retry whose first attempt's answer was lost), another rollback of the deploy did, or nothing ran;
   * a status without the record cannot tell.
   */
  private rolledBackBefore(now: HookStatus, ref: RollbackRef): RollbackResult {
    const nothing = `nothing of ${ref.deployId} runs in ${ref.environment}`;
    if (!now.rollbacks) return { rolledBack: false, by: 'unknown', detail: nothing };
    const own = now.rollbacks.find((r) => r.deployId === ref.deployId && r.rollbackId === ref.rollbackId);
    const other = now.rollbacks.filter((r) => r.deployId === ref.deployId).at(-1);
    const at = (r: { at?: number }) => (r.at === undefined ? '' : ` at ${new Date(r.at).toISOString()}`);
    if (own) {
      const detail = `${own.version} rolled back${at(own)}, ${stableOf(now)} serves`;
      return { rolledBack: true, by: 'earlier-attempt', version: own.version, detail };
    }
    const before = other ? `: another rollback took ${other.version} out${at(other)}` : '';
    return { rolledBack: false, detail: `${nothing}${before}` };
  }

  /** The status with the canary's `changedAt`, which the contract's status leaves out. */
  private async read(ref: TrackRef): Promise<HookStatus> {
    const stdout = await this.run('status', { service: ref.service, environment: ref.environment });
    return parseJson(stdout, hookStatusSchema, 'status', 'JSON with stable and canary');
  }

  /** This deploy's canary, or the conflict that says why there is none to act on. */
  private ownCanary(now: HookStatus, ref: DeployRef): NonNullable<HookStatus['canary']> {
    if (!now.canary) throw new TargetConflict('no-canary', `${where(ref)}: no canary of ${ref.deployId} runs`);
    if (now.canary.deployId !== ref.deployId) {
      throw new TargetConflict(
        'canary-busy',
        `${where(ref)}: the canary is deploy ${now.canary.deployId}'s, not ${ref.deployId}'s`,
      );
    }
    return now.canary;
  }

  /** {@link UnknownRelease} when the `releases` command lists versions and this is not one of them. */
  private async holds(ref: ReleaseRef): Promise<void> {
    const releases = await this.releases(ref.service);
    if (releases && !releases.includes(ref.version)) {
      throw new UnknownRelease(`${ref.service} has no release ${ref.version}; known: ${releases.join(', ')}`);
    }
  }

  private knownEnvironment(ref: TrackRef): void {
    if (!this.options.environments.includes(ref.environment)) {
      throw new InvalidTargetRequest(
        `${ref.service} has no environment ${ref.environment}: opsflow.yaml defines ${this.options.environments.join(', ')}`,
      );
    }
  }

  /** A command that exited 0 but whose change status does not show: retried, since the operation is idempotent. */
  private unconfirmed(operation: HookName, expected: string, after: HookStatus): CommandRetry {
    return new CommandRetry(
      `${operation} exited 0 but status does not show ${expected} yet: it shows ${JSON.stringify(after)}`,
    );
  }

  /** Runs one operation's command and returns its stdout; the exit code decides the error, as the contract says. */
  private async run(operation: HookName, vars: Values): Promise<string> {
    const hook: HookConfig | undefined = this.config[operation];
    if (!hook) throw new InvalidTargetRequest(`the command target has no ${operation} command`);
    const argv = fillArgv(hook.argv, vars);
    const timeoutMs = Math.min(hook.timeout ?? this.config.timeout, this.options.timeoutMs ?? Infinity);
    const env = {
      ...passThrough(this.config.passEnv, this.options.env ?? process.env),
      ...opsflowEnv(operation, vars),
    };
    const outcome = await runHook({ operation, argv, cwd: this.cwd, env, timeoutMs });
    const what = `${operation} command (${argv[0] ?? ''})`;
    switch (outcome.kind) {
      case 'not-started':
        throw new InvalidTargetRequest(`${what} could not start in ${this.cwd}: ${outcome.error}`);
      case 'timed-out':
        throw new CommandRetry(`${what} ran over ${timeoutMs} ms and was killed${stderrOf(outcome.stderr)}`);
      case 'exited':
        if (outcome.code === 0) return outcome.stdout;
        if (outcome.code === EX_TEMPFAIL)
          throw new CommandRetry(`${what} asked for a retry${stderrOf(outcome.stderr)}`);
        throw new InvalidTargetRequest(`${what} exited ${outcome.code}${stderrOf(outcome.stderr)}`);
    }
  }
}

/** A command's stdout as `schema` describes it, or the one line that says what is wrong with it. */
function parseJson<T>(stdout: string, schema: z.ZodType<T>, operation: HookName, expected: string): T {
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch {
    const shown = stdout.trim().slice(0, 200) || 'nothing';
    throw new InvalidTargetRequest(`${operation} command printed ${shown} on stdout: expected ${expected}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new InvalidTargetRequest(`${operation} command printed JSON that is not ${expected}: ${at}${issue?.message}`);
  }
  return parsed.data;
}

/** The values also given as environment variables, for scripts that prefer them to arguments. */
function opsflowEnv(operation: HookName, vars: Values): Record<string, string> {
  const names: Record<Placeholder, string> = {
    service: 'OPSFLOW_SERVICE',
    environment: 'OPSFLOW_ENVIRONMENT',
    version: 'OPSFLOW_VERSION',
    deployId: 'OPSFLOW_DEPLOY_ID',
    weight: 'OPSFLOW_WEIGHT',
    rollbackId: 'OPSFLOW_ROLLBACK_ID',
  };
  const env: Record<string, string> = { OPSFLOW_OPERATION: operation };
  for (const [key, value] of Object.entries(vars) as [Placeholder, string | undefined][]) {
    if (value !== undefined) env[names[key]] = value;
  }
  return env;
}

function values(ref: ReleaseRef | DeployRef): Values {
  return {
    service: ref.service,
    environment: ref.environment,
    deployId: ref.deployId,
    ...('version' in ref ? { version: ref.version } : {}),
  };
}

function changed(weight: number, changedAt: number | undefined): WeightResult {
  return changedAt === undefined ? { weight } : { weight, changedAt };
}

function where(ref: TrackRef): string {
  return `${ref.service} in ${ref.environment}`;
}

function stableOf(status: HookStatus): string {
  return status.stable?.version ?? 'no stable release';
}

function stderrOf(stderr: string): string {
  const tail = lastLines(stderr);
  return tail ? `: ${tail}` : ' (no stderr)';
}
