/**
 * The deploy target contract as tests: every target kind (the fake in fakes.ts, the local platform, and every kind
 * added later) registers these cases against its own factory and must pass them. They are the rules of
 * `DeployTarget`'s doc comment in src/activities/targets/contract.ts, which the deploy workflow relies on: idempotent
 * operations keyed by the deploy id, TargetConflict when there is nothing of this deploy to act on, a rollback of
 * nothing that is not an error, and a rollback retried after its first attempt did the work that says so, from the
 * target's own record.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidTargetRequest,
  TargetConflict,
  UnknownRelease,
  type ConflictReason,
  type DeployTarget,
  type TargetStatus,
} from '../../src/activities/targets/contract';

/** A target ready for one case, in a state of its own. */
export interface TargetUnderTest {
  target: DeployTarget;
  service: string;
  environment: string;
  /** The stable release of `service` in `environment` when the case starts, put there by no deploy of the case. */
  stable: string;
  /** Two releases other than `stable` that start and serve. */
  releases: readonly [string, string];
  /** A version the target does not hold; leave out when the target cannot list its releases. */
  unknownVersion?: string;
  /** An environment the target does not know. */
  unknownEnvironment: string;
  /** Stops whatever `open` started. */
  close(): Promise<void>;
}

/** Registers the contract's cases under `describe(name)`; `open` gives each case a fresh target. */
export function describeTargetContract(name: string, open: () => Promise<TargetUnderTest>): void {
  const A = 'deploy/contract/a';
  const B = 'deploy/contract/b';

  /** One case on a fresh target, closed however the case ends. */
  const test = (title: string, body: (s: Subject) => Promise<void>): void => {
    it(title, async (t) => {
      const subject = await open();
      try {
        await body({ ...subject, at: (deployId) => refs(subject, deployId), skip: (why) => t.skip(why) });
      } finally {
        await subject.close();
      }
    });
  };

  describe(`${name}: the deploy target contract`, () => {
    test('reports the stable release, no canary, and the releases it holds (or that it cannot tell)', async (s) => {
      const now = await s.target.status(s.at(A).track);
      assert.equal(now.stable?.version, s.stable);
      assert.equal(now.canary, null);
      const releases = await s.target.releases(s.service);
      if (releases) {
        for (const version of [s.stable, ...s.releases]) assert.ok(releases.includes(version), `lists ${version}`);
        if (s.unknownVersion) assert.ok(!releases.includes(s.unknownVersion));
      }
    });

    test('starts a release beside the stable one at 0 %', async (s) => {
      const [v1] = s.releases;
      const started = await s.target.startRelease(s.at(A).release(v1));
      assert.equal(started.alreadyPromoted, false);
      assert.ok(started.detail.length > 0, 'says what runs, for people');
      assert.deepEqual(await status(s), {
        stable: s.stable,
        canary: { version: v1, weight: 0, deployId: A },
      });
    });

    test('start is idempotent for the same deploy and leaves its weight as it is', async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.setWeight(s.at(A).weight(25));
      const again = await s.target.startRelease(s.at(A).release(v1));
      assert.equal(again.alreadyPromoted, false);
      assert.deepEqual((await status(s)).canary, { version: v1, weight: 25, deployId: A });
    });

    test("refuses a second deploy's start while another deploy's canary runs", async (s) => {
      const [v1, v2] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await refuses(s.target.startRelease(s.at(B).release(v2)), TargetConflict, 'canary-busy');
      await refuses(s.target.startRelease(s.at(B).release(v1)), TargetConflict, 'canary-busy');
      assert.deepEqual((await status(s)).canary, { version: v1, weight: 0, deployId: A });
    });

    test("refuses this deploy's start of another version than its running canary", async (s) => {
      const [v1, v2] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await refuses(s.target.startRelease(s.at(A).release(v2)), TargetConflict, 'version-mismatch');
    });

    test('refuses to start the stable version for a deploy that did not promote it', async (s) => {
      await refuses(s.target.startRelease(s.at(A).release(s.stable)), TargetConflict, 'already-stable');
      assert.equal((await status(s)).canary, null);
    });

    test('refuses a release it does not hold with UnknownRelease', async (s) => {
      if (!s.unknownVersion) return s.skip('the target cannot list its releases');
      await refuses(s.target.startRelease(s.at(A).release(s.unknownVersion)), UnknownRelease);
      await refuses(s.target.promote(s.at(A).release(s.unknownVersion)), UnknownRelease);
      assert.equal((await status(s)).canary, null);
    });

    test("refuses to route traffic when this deploy has no canary, and never moves another deploy's", async (s) => {
      const [v1] = s.releases;
      // The rollback saga reads this conflict as "nothing of this deploy takes traffic".
      await refuses(s.target.setWeight(s.at(A).weight(0)), TargetConflict, 'no-canary');
      await refuses(s.target.setWeight(s.at(A).weight(10)), TargetConflict, 'no-canary');
      await s.target.startRelease(s.at(A).release(v1));
      await refuses(s.target.setWeight(s.at(B).weight(10)), TargetConflict, 'canary-busy');
      assert.equal((await status(s)).canary?.weight, 0);
    });

    test('sets weights; the same weight again changes nothing', async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      const first = await s.target.setWeight(s.at(A).weight(10));
      assert.equal(first.weight, 10);
      const again = await s.target.setWeight(s.at(A).weight(10));
      assert.equal(again.weight, 10);
      assert.equal(again.changedAt, first.changedAt, 'changedAt is when the weight took effect');
      assert.equal((await s.target.setWeight(s.at(A).weight(50))).weight, 50);
      assert.equal((await status(s)).canary?.weight, 50);
      assert.equal((await s.target.setWeight(s.at(A).weight(0))).weight, 0);
      assert.equal((await status(s)).canary?.weight, 0);
    });

    test('refuses a weight that is not a whole percentage with InvalidTargetRequest', async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      for (const weight of [101, -1, 12.5])
        await refuses(s.target.setWeight(s.at(A).weight(weight)), InvalidTargetRequest);
      assert.equal((await status(s)).canary?.weight, 0);
    });

    test('promotes: the release becomes stable and the canary is gone; promoting again is a no-op', async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.setWeight(s.at(A).weight(50));
      const promoted = await s.target.promote(s.at(A).release(v1));
      assert.ok(promoted.detail.length > 0);
      const after = { stable: v1, stableBy: A, canary: null };
      assert.deepEqual(await status(s, true), after);
      await s.target.promote(s.at(A).release(v1));
      assert.deepEqual(await status(s, true), after);
    });

    test("start after this deploy's promotion answers alreadyPromoted; another deploy's is a conflict", async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.promote(s.at(A).release(v1));
      const restarted = await s.target.startRelease(s.at(A).release(v1));
      assert.equal(restarted.alreadyPromoted, true);
      assert.deepEqual(await status(s), { stable: v1, canary: null });
      await refuses(s.target.startRelease(s.at(B).release(v1)), TargetConflict, 'already-stable');
    });

    test('refuses to promote without a canary of this deploy and version', async (s) => {
      const [v1, v2] = s.releases;
      await refuses(s.target.promote(s.at(A).release(v1)), TargetConflict, 'no-canary');
      await s.target.startRelease(s.at(A).release(v1));
      await refuses(s.target.promote(s.at(B).release(v1)), TargetConflict, 'canary-busy');
      await refuses(s.target.promote(s.at(A).release(v2)), TargetConflict, 'version-mismatch');
      assert.deepEqual(await status(s), { stable: s.stable, canary: { version: v1, weight: 0, deployId: A } });
    });

    test("rollback with nothing of this deploy answers rolledBack: false and leaves another's canary", async (s) => {
      const [v1] = s.releases;
      const nothing = await s.target.rollback(s.at(A).rollback());
      assert.equal(nothing.rolledBack, false);
      assert.equal(nothing.by, undefined, 'claims no earlier attempt: the record shows none');
      await s.target.startRelease(s.at(B).release(v1));
      await s.target.setWeight(s.at(B).weight(10));
      const notMine = await s.target.rollback(s.at(A).rollback());
      assert.equal(notMine.rolledBack, false);
      assert.equal(notMine.by, undefined);
      assert.deepEqual((await status(s)).canary, { version: v1, weight: 10, deployId: B });
    });

    test('rollback takes the canary to 0 % and away; again it is a no-op, and its weight a conflict', async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.setWeight(s.at(A).weight(50));
      const calledAt = Date.now();
      const result = await s.target.rollback(s.at(A).rollback());
      assert.equal(result.rolledBack, true);
      assert.equal(result.by, 'this-attempt');
      assert.ok(result.detail.length > 0);
      if (result.weightZeroAt !== undefined) {
        assert.ok(result.weightZeroAt >= calledAt && result.weightZeroAt <= Date.now(), 'weightZeroAt is the call');
      }
      assert.deepEqual(await status(s), { stable: s.stable, canary: null });
      assert.equal((await s.target.rollback(s.at(A).rollback())).by, 'earlier-attempt');
      assert.deepEqual(await status(s), { stable: s.stable, canary: null });
      await refuses(s.target.setWeight(s.at(A).weight(0)), TargetConflict, 'no-canary');
    });

    test('a rollback retried after its first attempt took the canary out says an earlier attempt did', async (s) => {
      const [v1, v2] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.setWeight(s.at(A).weight(50));
      // The first attempt does the work; its answer is lost (the worker running it died), so the step is retried.
      const first = await s.target.rollback(s.at(A).rollback());
      assert.deepEqual([first.rolledBack, first.by], [true, 'this-attempt']);
      const retried = await s.target.rollback(s.at(A).rollback());
      assert.deepEqual([retried.rolledBack, retried.by], [true, 'earlier-attempt'], retried.detail);
      assert.ok(retried.detail.length > 0);
      if (retried.version !== undefined) assert.equal(retried.version, v1);
      if (first.weightZeroAt !== undefined && retried.weightZeroAt !== undefined) {
        assert.equal(retried.weightZeroAt, first.weightZeroAt, "the earlier attempt's time, from the record");
      }
      assert.deepEqual(await status(s), { stable: s.stable, canary: null });
      // A late retry, once the next deploy's canary runs: the same answer, and that canary is left as it is.
      await s.target.startRelease(s.at(B).release(v2));
      await s.target.setWeight(s.at(B).weight(10));
      const late = await s.target.rollback(s.at(A).rollback());
      assert.deepEqual([late.rolledBack, late.by], [true, 'earlier-attempt']);
      assert.deepEqual((await status(s)).canary, { version: v2, weight: 10, deployId: B });
    });

    test('another rollback of the same deploy id (a later run) claims nothing an earlier one did', async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.rollback(s.at(A).rollback('run-1/step'));
      // A rolled-back change deployed again under its id, its release refused before it started, then rolled back.
      const again = await s.target.rollback(s.at(A).rollback('run-2/step'));
      assert.equal(again.rolledBack, false, again.detail);
      assert.equal(again.by, undefined, 'neither this step nor an earlier attempt of it did anything');
      assert.deepEqual(await status(s), { stable: s.stable, canary: null });
    });

    test('a rollback retried after its first attempt undid a promotion says an earlier attempt did', async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.promote(s.at(A).release(v1));
      const first = await s.target.rollback(s.at(A).rollback());
      assert.deepEqual([first.rolledBack, first.by], [true, 'this-attempt']);
      const retried = await s.target.rollback(s.at(A).rollback());
      assert.deepEqual([retried.rolledBack, retried.by], [true, 'earlier-attempt'], retried.detail);
      assert.deepEqual(await status(s), { stable: s.stable, canary: null });
    });

    test("rollback after this deploy's promotion restores the previous stable release", async (s) => {
      const [v1] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.promote(s.at(A).release(v1));
      const result = await s.target.rollback(s.at(A).rollback());
      assert.equal(result.rolledBack, true);
      assert.deepEqual(await status(s), { stable: s.stable, canary: null });
      assert.equal((await s.target.rollback(s.at(A).rollback())).by, 'earlier-attempt');
      assert.deepEqual(await status(s), { stable: s.stable, canary: null });
    });

    test('lets the next deploy start once the canary is rolled back or promoted', async (s) => {
      const [v1, v2] = s.releases;
      await s.target.startRelease(s.at(A).release(v1));
      await s.target.rollback(s.at(A).rollback());
      await s.target.startRelease(s.at(B).release(v2));
      await s.target.promote(s.at(B).release(v2));
      await s.target.startRelease(s.at(A).release(v1));
      assert.deepEqual(await status(s), { stable: v2, canary: { version: v1, weight: 0, deployId: A } });
    });

    test('refuses an environment it does not know with InvalidTargetRequest', async (s) => {
      const [v1] = s.releases;
      const elsewhere = { ...s, environment: s.unknownEnvironment };
      await refuses(s.target.status(refs(elsewhere, A).track), InvalidTargetRequest);
      await refuses(s.target.startRelease(refs(elsewhere, A).release(v1)), InvalidTargetRequest);
    });
  });
}

/** A case's target, with its refs per deploy and a way to mark the case skipped (a rule the target cannot show). */
type Subject = TargetUnderTest & { at: (deployId: string) => Refs; skip: (why: string) => void };

interface Refs {
  track: { environment: string; service: string };
  deploy: { environment: string; service: string; deployId: string };
  /** One rollback step of the deploy: every attempt of it (a retry) passes the same id. */
  rollback: (rollbackId?: string) => { environment: string; service: string; deployId: string; rollbackId: string };
  release: (version: string) => { environment: string; service: string; deployId: string; version: string };
  weight: (weight: number) => { environment: string; service: string; deployId: string; weight: number };
}

function refs(s: Pick<TargetUnderTest, 'environment' | 'service'>, deployId: string): Refs {
  const track = { environment: s.environment, service: s.service };
  const deploy = { ...track, deployId };
  return {
    track,
    deploy,
    rollback: (rollbackId = 'run-1/rollback-step') => ({ ...deploy, rollbackId }),
    release: (version) => ({ ...deploy, version }),
    weight: (weight) => ({ ...deploy, weight }),
  };
}

/** The status in a form cases compare: the stable version (and who promoted it, when asked) and the canary. */
async function status(
  s: TargetUnderTest,
  withOwner = false,
): Promise<{ stable: string | undefined; stableBy?: string | null; canary: TargetStatus['canary'] }> {
  const { stable, canary } = await s.target.status({ environment: s.environment, service: s.service });
  return { stable: stable?.version, ...(withOwner ? { stableBy: stable?.deployId ?? null } : {}), canary };
}

/** Asserts a refusal of the given class (and conflict reason), as a typed error rather than message text. */
async function refuses(
  promise: Promise<unknown>,
  type: typeof TargetConflict | typeof UnknownRelease | typeof InvalidTargetRequest,
  reason?: ConflictReason,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    if (reason) assert.equal((err as TargetConflict).reason, reason);
    return true;
  });
}
