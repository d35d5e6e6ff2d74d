/**
 * The worker decides the root folder it writes into: a request's workdir outside it is refused with one line by every
 * activity that writes (handoff reports, agent docs, LLM audit files); deploy ids are one safe pattern. Paths are
 * judged where they really are: a committed symbolic link cannot lead a report's writes, or the plan's read, out.
 * Run: node --import tsx --test test/unit/workdir-root.test.ts
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { writeDoc } from '../../src/activities/agent/files';
import { writeAudit } from '../../src/activities/llm/audit';
import { readHandoffPlan } from '../../src/activities/planner/handoff-plan';
import { resolveHandoffDir, snapshotHandoff, writeHandoffReport } from '../../src/activities/report/handoff';
import { checkWorkdir, setWorkdirRoot } from '../../src/activities/report/workdir';
import type { ReportRequest } from '../../src/activities/types';
import { deployWorkflowId, handoffDir, type DeployStatus } from '../../src/shared/deploy';
import { ErrorType } from '../../src/shared/errors';
import { testConfig, testInput } from '../helpers/config';
import { deployIdSchema } from '../../src/shared/validation';

const base = mkdtempSync(path.join(os.tmpdir(), 'opsflow-root-'));
const root = path.join(base, 'root');
const outside = path.join(base, 'elsewhere');
mkdirSync(root);
after(() => rmSync(base, { recursive: true, force: true }));
setWorkdirRoot(root);

const refused = (err: unknown) =>
  err instanceof ApplicationFailure &&
  err.nonRetryable &&
  /^workdir .* is outside the worker's root .*: run opsflow inside it, or start the worker with --workdir-root$/.test(
    err.message,
  );

const audit = {
  purpose: 'plan',
  promptVersion: 'v1',
  provider: 'openai',
  model: 'm',
  baseUrl: 'https://api.openai.com/v1',
  at: '2026-01-01T00:00:00Z',
  latencyMs: 1,
  request: { prompt: 'p' },
  inputTokens: 1,
  outputTokens: 1,
  estimatedCostUsd: 0,
};

describe('workdir root', () => {
  it('refuses a workdir outside the root in every writer, and writes nothing there', () => {
    assert.throws(() => checkWorkdir(outside), refused);
    assert.throws(() => checkWorkdir(`${root}-sibling`), refused);
    assert.throws(() => checkWorkdir(path.join(root, '..', 'elsewhere')), refused);
    assert.throws(() => resolveHandoffDir(outside, '.agency/handoff/f/devops-automator'), refused);
    assert.throws(() => writeDoc(outside, 'docs/operations/runbook.md', 'x'), refused);
    assert.throws(() => writeAudit({ workdir: outside, label: 'deploy-hello-1.1.0-production' }, audit), refused);
    assert.equal(existsSync(outside), false);
  });

  it('accepts the root and folders inside it', () => {
    assert.equal(checkWorkdir(root), root);
    const project = path.join(root, 'project');
    writeDoc(project, 'docs/operations/runbook.md', 'x');
    assert.ok(existsSync(path.join(project, 'docs/operations/runbook.md')));
    const ref = writeAudit({ workdir: project, label: 'deploy-hello-1.1.0-production' }, audit);
    assert.ok(existsSync(path.join(project, ref.file)));
  });

  it('judges a workdir where it really is: a link inside the root that leads out is refused, one from outside in is not', () => {
    const away = path.join(base, 'away');
    mkdirSync(away);
    const project = path.join(root, 'linked-out');
    symlinkSync(away, project);
    assert.throws(() => checkWorkdir(project), refused);
    assert.throws(() => checkWorkdir(path.join(project, 'deeper', 'not-yet')), refused);
    assert.throws(() => writeDoc(project, 'docs/operations/runbook.md', 'x'), refused);
    assert.deepEqual(readdirSync(away), []);
    const alias = path.join(base, 'alias');
    mkdirSync(path.join(root, 'aliased'));
    symlinkSync(path.join(root, 'aliased'), alias);
    assert.equal(checkWorkdir(alias), alias);
  });

  it('takes deploy ids of one safe pattern', () => {
    assert.equal(deployIdSchema.safeParse(deployWorkflowId('hello', '1.2.0-rc.1', 'production')).success, true);
    for (const id of ['', '../../etc', 'deploy/hello/1.0.0/production', 'deploy-a..b', '-x', 'a b']) {
      assert.equal(deployIdSchema.safeParse(id).success, false, id);
    }
  });
});

describe('handoff paths through symbolic links', () => {
  const config = testConfig();
  const feature = 'feat';
  const dir = handoffDir(feature);
  /** A fresh project under the root, and a folder outside it that a committed link may point to. */
  const fresh = (name: string) => {
    const project = path.join(root, name);
    const elsewhere = path.join(base, `${name}-elsewhere`);
    mkdirSync(project, { recursive: true });
    mkdirSync(elsewhere, { recursive: true });
    return { project, elsewhere };
  };
  const request = (workdir: string): ReportRequest => {
    const input = testInput(config, workdir, { feature });
    const status: DeployStatus = {
      deployId: input.deployId,
      service: input.service,
      version: input.version,
      feature,
      requestedBy: input.requestedBy,
      phase: 'PROMOTED',
      outcome: 'promoted',
      startedAt: '2026-01-01T12:00:00.000Z',
      endedAt: '2026-01-01T12:10:00.000Z',
      previousVersions: {},
      controls: [],
      approvals: [],
      samples: [],
      timeline: [],
    };
    return { input, workdir, dir, status, existing: [] };
  };
  /** A non-retryable InvalidRequest of one line that names the path, where it leads, and what to fix. */
  const leads = (named: string) => (err: unknown) =>
    err instanceof ApplicationFailure &&
    err.nonRetryable &&
    err.type === ErrorType.InvalidRequest &&
    !err.message.includes('\n') &&
    err.message.includes(named) &&
    / leads to .* through a symbolic link, outside .*: remove the link, or make it point inside /.test(err.message);

  it('refuses a handoff folder under a committed link that leads out of the workdir, and writes nothing there', () => {
    const { project, elsewhere } = fresh('feature-link');
    mkdirSync(path.join(project, '.agency', 'handoff'), { recursive: true });
    symlinkSync(elsewhere, path.join(project, '.agency', 'handoff', feature));
    assert.throws(() => resolveHandoffDir(project, dir), leads(`handoff folder ${dir}`));
    assert.throws(() => snapshotHandoff({ workdir: project, dir }), leads(dir));
    assert.throws(() => writeHandoffReport(request(project)), leads(dir));
    assert.throws(() => readHandoffPlan(project, feature), leads(dir));
    assert.deepEqual(readdirSync(elsewhere), []);
  });

  it('refuses the same when .agency itself is the link', () => {
    const { project, elsewhere } = fresh('agency-link');
    symlinkSync(elsewhere, path.join(project, '.agency'));
    assert.throws(() => writeHandoffReport(request(project)), leads(dir));
    assert.deepEqual(readdirSync(elsewhere), []);
  });

  it('refuses a link that leads nowhere, since where it would write cannot be known', () => {
    const { project, elsewhere } = fresh('dangling-link');
    mkdirSync(path.join(project, '.agency', 'handoff'), { recursive: true });
    symlinkSync(path.join(elsewhere, 'not-yet'), path.join(project, '.agency', 'handoff', feature));
    assert.throws(
      () => writeHandoffReport(request(project)),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.nonRetryable &&
        /^.*\.agency\/handoff\/feat is a symbolic link to a path that does not exist: remove it/.test(err.message),
    );
    assert.deepEqual(readdirSync(elsewhere), []);
  });

  it('refuses a plan.md that is a link to a file outside, and reads nothing of it', () => {
    const { project, elsewhere } = fresh('plan-link');
    const secret = path.join(elsewhere, 'secret.txt');
    writeFileSync(secret, 'not for the planner');
    mkdirSync(path.join(project, dir), { recursive: true });
    symlinkSync(secret, path.join(project, dir, 'plan.md'));
    assert.throws(() => readHandoffPlan(project, feature), leads(`${dir}/plan.md`));
  });

  it('never writes through a link committed in place of its temporary file', () => {
    const { project, elsewhere } = fresh('temp-link');
    const victim = path.join(elsewhere, 'victim.txt');
    writeFileSync(victim, 'untouched');
    mkdirSync(path.join(project, dir), { recursive: true });
    symlinkSync(victim, path.join(project, dir, `summary.md.${process.pid}.tmp`));
    writeHandoffReport(request(project));
    assert.equal(readFileSync(victim, 'utf8'), 'untouched');
    assert.match(readFileSync(path.join(project, dir, 'summary.md'), 'utf8'), /hello/);
  });

  it('accepts links that stay inside the workdir, and writes the report through them', () => {
    const { project } = fresh('inside-link');
    mkdirSync(path.join(project, 'shared', 'handoff'), { recursive: true });
    mkdirSync(path.join(project, '.agency'));
    symlinkSync(path.join(project, 'shared', 'handoff'), path.join(project, '.agency', 'handoff'));
    mkdirSync(path.join(project, 'shared', 'handoff', feature, 'devops-automator'), { recursive: true });
    writeFileSync(path.join(project, 'shared', 'handoff', feature, 'devops-automator', 'plan.md'), '# plan');
    assert.deepEqual(readHandoffPlan(project, feature), { path: `${dir}/plan.md`, text: '# plan' });
    const result = writeHandoffReport(request(project));
    assert.deepEqual(result.files, [`${dir}/summary.md`, `${dir}/files-changed.json`, `${dir}/report.json`]);
    assert.ok(existsSync(path.join(project, 'shared', 'handoff', feature, 'devops-automator', 'report.json')));
  });
});
