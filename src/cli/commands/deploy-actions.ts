// What `opsflow deploy approve|reject|status|watch|list|pause|resume|promote|abort` do, loaded when one of them runs.
// A deploy that exists already is all they address: Temporal's client, no opsflow.yaml (so no yaml, no zod).
import type { ApprovalRecord, ControlAction, ControlArgs, ControlRecord } from '../../shared/deploy';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  overrideSignal,
  overrideUpdate,
  promoteSignal,
  promoteUpdate,
  rejectSignal,
  rejectUpdate,
  resumeSignal,
  resumeUpdate,
} from '../../shared/deploy/messages';
import { FINAL_PHASES } from '../../shared/deploy/status';
import { PHASE_ATTRIBUTE, SERVICE_ATTRIBUTE } from '../../shared/search-attributes';
import { deployHandle, explainDeployMessage, hasSearchAttributes, readStatus, withClient } from '../client';
import { formatSample, formatStatus, formatStepVerdict, formatTimelineEntry } from '../format';
import { CliError, print, printJson } from '../output';
import { EXIT } from './exit-codes';

/** The options of `opsflow deploy approve` and `reject`. */
export interface ApprovalOptions {
  by: string;
  key?: string;
  comment?: string;
  reason?: string;
  signal?: boolean;
  json?: boolean;
}

/** Approves or rejects the environment a deploy waits for: an Update (the record printed), or a Signal. */
export async function decideApproval(kind: 'approve' | 'reject', workflowId: string, opts: ApprovalOptions) {
  await withClient(async (client) => {
    const handle = deployHandle(client, workflowId);
    try {
      // Where the worker asks for signatures, the decision is signed with the person's key: --by alone proves nothing.
      const { signFor } = await import('../sign.js');
      const signed = await signFor(handle, kind, opts.by, {
        ...(opts.key ? { key: opts.key } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
      });
      const proof = signed ? { signed } : {};
      if (opts.signal) {
        if (kind === 'approve')
          await handle.signal(approveSignal, {
            by: opts.by,
            ...(opts.comment ? { comment: opts.comment } : {}),
            ...proof,
          });
        else await handle.signal(rejectSignal, { by: opts.by, reason: opts.reason ?? '', ...proof });
        print(`${kind} signal sent to ${workflowId}; "opsflow deploy status ${workflowId}" shows whether it was taken`);
        return;
      }
      const record: ApprovalRecord =
        kind === 'approve'
          ? await handle.executeUpdate(approveUpdate, {
              args: [{ by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}), ...proof }],
            })
          : await handle.executeUpdate(rejectUpdate, { args: [{ by: opts.by, reason: opts.reason ?? '', ...proof }] });
      if (opts.json) printJson(record);
      else print(`${record.decision} ${record.environment} of ${workflowId} by ${record.by} at ${record.at}`);
    } catch (err) {
      throw await explainDeployMessage(handle, kind, err);
    }
  });
}

/** Prints a deploy's status, for people or as JSON. */
export async function showStatus(workflowId: string, opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    const status = await readStatus(deployHandle(client, workflowId));
    if (opts.json) printJson(status);
    else print(...formatStatus(status));
  });
}

/** Follows a deploy until it ends, printing new timeline entries and samples; answers the exit code of its ending. */
export async function watchDeploy(workflowId: string, opts: { interval: string; json?: boolean }): Promise<number> {
  const interval = Math.max(200, Number(opts.interval) || 1000);
  return withClient(async (client) => {
    const handle = deployHandle(client, workflowId);
    let seenTimeline = 0;
    let seenSamples = 0;
    let seenSteps = 0;
    for (;;) {
      const status = await readStatus(handle);
      // New timeline entries and samples, interleaved in the order they happened.
      const fresh = [
        ...status.timeline.slice(seenTimeline).map((entry) => ({ at: entry.at, entry })),
        ...status.samples.slice(seenSamples).map((sample) => ({ at: sample.at, sample })),
      ].sort((a, b) => a.at.localeCompare(b.at));
      for (const item of fresh) {
        if ('entry' in item) {
          if (opts.json) printJson({ type: 'timeline', ...item.entry });
          else print(formatTimelineEntry(item.entry));
        } else if (opts.json) printJson({ type: 'sample', ...item.sample });
        else print(formatSample(item.sample));
      }
      // Beside the samples, the step's verdict on its whole window: each decided step once, else the running one.
      const decided = status.stepVerdicts ?? [];
      for (const step of decided.slice(seenSteps)) {
        if (opts.json) printJson({ type: 'step', ...step });
        else print(`           ${formatStepVerdict(step)}`);
      }
      const running = status.analysis?.step;
      if (running?.verdict === 'pending' && status.samples.length > seenSamples) {
        if (opts.json) printJson({ type: 'step', ...running });
        else print(`           ${formatStepVerdict(running)}`);
      }
      seenSteps = decided.length;
      seenTimeline = status.timeline.length;
      seenSamples = status.samples.length;
      if (FINAL_PHASES.includes(status.phase)) {
        if (!opts.json) print(`${status.phase}: ${status.reason ?? ''}`);
        return status.phase === 'PROMOTED'
          ? EXIT.promoted
          : status.phase === 'ROLLED_BACK'
            ? EXIT.rolledBack
            : status.phase === 'CANCELLED'
              ? EXIT.cancelled
              : EXIT.failed;
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  });
}

/** The operator controls, each an Update with an answer and a Signal for tools that cannot send Updates. */
const CONTROLS = {
  pause: { update: pauseUpdate, signal: pauseSignal },
  resume: { update: resumeUpdate, signal: resumeSignal },
  promote: { update: promoteUpdate, signal: promoteSignal },
  abort: { update: abortUpdate, signal: abortSignal },
} as const;

/** The options of `opsflow deploy pause|resume|promote|abort`. */
export interface ControlOptions {
  by: string;
  key?: string;
  reason?: string;
  signal?: boolean;
  json?: boolean;
}

/** Sends an operator control to a deploy; `done` is the verb its confirmation starts with ("paused"). */
export async function control(action: ControlAction, done: string, workflowId: string, opts: ControlOptions) {
  await withClient(async (client) => {
    const handle = deployHandle(client, workflowId);
    try {
      const { signFor } = await import('../sign.js');
      const signed = await signFor(handle, action, opts.by, opts.key ? { key: opts.key } : {});
      const args: ControlArgs = {
        by: opts.by,
        ...(opts.reason ? { reason: opts.reason } : {}),
        ...(signed ? { signed } : {}),
      };
      if (opts.signal) {
        await handle.signal(CONTROLS[action].signal, args);
        print(
          `${action} signal sent to ${workflowId}; "opsflow deploy status ${workflowId}" shows whether it was taken`,
        );
        return;
      }
      const record: ControlRecord = await handle.executeUpdate(CONTROLS[action].update, { args: [args] });
      if (opts.json) printJson(record);
      else print(`${done} ${workflowId} by ${record.by} at ${record.at} (was ${record.phase})`);
    } catch (err) {
      throw await explainDeployMessage(handle, action, err);
    }
  });
}

/** Signs a break-glass override of the freeze holding a deploy (`opsflow deploy override`). */
export async function overrideFreeze(workflowId: string, opts: ControlOptions) {
  await withClient(async (client) => {
    const handle = deployHandle(client, workflowId);
    try {
      const { signFor } = await import('../sign.js');
      const signed = await signFor(handle, 'override', opts.by, opts.key ? { key: opts.key } : {});
      const args: ControlArgs = {
        by: opts.by,
        ...(opts.reason ? { reason: opts.reason } : {}),
        ...(signed ? { signed } : {}),
      };
      if (opts.signal) {
        await handle.signal(overrideSignal, args);
        print(
          `override signal sent to ${workflowId}; "opsflow deploy status ${workflowId}" shows whether it was taken`,
        );
        return;
      }
      const record: ControlRecord = await handle.executeUpdate(overrideUpdate, { args: [args] });
      if (opts.json) printJson(record);
      else print(`break-glass override of ${workflowId} signed by ${record.by} at ${record.at}`);
    } catch (err) {
      throw await explainDeployMessage(handle, 'override', err);
    }
  });
}

/** Lists recent deploys, newest first, optionally of one service (which needs opsflow's search attributes). */
export async function listDeploys(opts: { limit: string; service?: string; json?: boolean }): Promise<void> {
  const limit = Math.max(1, Number(opts.limit) || 20);
  await withClient(async (client) => {
    if (opts.service && !(await hasSearchAttributes(client))) {
      throw new CliError(
        "--service: the namespace lacks opsflow's search attributes (start the worker once to register them)",
      );
    }
    const query = `WorkflowType = 'deploy'${opts.service ? ` AND OpsflowService = '${opts.service.replace(/'/g, '')}'` : ''}`;
    const rows: { workflowId: string; status: string; phase: string; service: string; started: string }[] = [];
    for await (const wf of client.workflow.list({ query, pageSize: limit })) {
      rows.push({
        workflowId: wf.workflowId,
        status: wf.status.name,
        phase: String(wf.typedSearchAttributes.get(PHASE_ATTRIBUTE) ?? '?'),
        service: String(wf.typedSearchAttributes.get(SERVICE_ATTRIBUTE) ?? ''),
        started: wf.startTime.toISOString(),
      });
      if (rows.length >= limit) break;
    }
    if (opts.json) return printJson(rows);
    if (rows.length === 0)
      return print('no deploys yet: start one with "opsflow deploy start --service <name> --version <semver>"');
    const width = Math.max(...rows.map((r) => r.workflowId.length));
    for (const r of rows)
      print(`${r.workflowId.padEnd(width)}  ${r.phase.padEnd(17)}  ${r.status.padEnd(10)}  ${r.started}`);
  });
}
