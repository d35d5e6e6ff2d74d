/**
 * One signed start, one run. A start statement cannot name the run it starts (the run id does not exist when it is
 * signed), so the deploy's id and its lifetime bind it; this ledger closes what they leave open, from the Temporal
 * server's own records rather than anything the request or the history says:
 * - a run of the same deploy id started after the statement was issued (and still running then) and before this run
 *   has used it: a signed start cannot start the deploy again after its run ended (a rolled-back deploy may be
 *   retried, with a new signature made after it ended);
 * - a start delay does not stretch its lifetime: it must still hold when the run was due to begin.
 */
import type { Client } from '@temporalio/client';

/** The run a signed start is presented for, and the statement's times. */
export interface StartUse {
  workflowId: string;
  runId: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

export interface StartLedger {
  /** Why the signed start may not start this run, or undefined when this run is its first and it held in time. */
  refuse(use: StartUse): Promise<string | undefined>;
}

/** Clocks differ a little: a run started up to a minute "before" the statement was issued still counts as after. */
const SKEW_MS = 60_000;

/** The ledger of a Temporal namespace: the run's description and the visibility store's list of the id's runs. */
export function temporalStartLedger(client: Client): StartLedger {
  return {
    async refuse({ workflowId, runId, issuedAtMs, expiresAtMs }) {
      const run = await client.workflow.getHandle(workflowId, runId).describe();
      const dueAt = (run.executionTime ?? run.startTime).getTime();
      if (expiresAtMs < dueAt) {
        return (
          `the signed start expired at ${new Date(expiresAtMs).toISOString()}, before the run was due to begin ` +
          `(${new Date(dueAt).toISOString()}, a start delay): sign again`
        );
      }
      const since = new Date(issuedAtMs - SKEW_MS).toISOString();
      const query = `WorkflowId = ${JSON.stringify(workflowId)} AND StartTime >= ${JSON.stringify(since)}`;
      for await (const other of client.workflow.list({ query })) {
        if (other.runId === runId || other.startTime.getTime() > run.startTime.getTime()) continue;
        // A run that had ended before the statement was signed did not use it: a retry signs anew after it.
        if (other.closeTime && other.closeTime.getTime() < issuedAtMs) continue;
        return (
          `the signed start was already used by run ${other.runId} of ${workflowId} ` +
          `(started ${other.startTime.toISOString()}): a signed start starts one run; sign a new one`
        );
      }
      return undefined;
    },
  };
}

/** Remembers each run's answer, so the activities of one deploy ask the server once. */
export function rememberingLedger(ledger: StartLedger, size = 1_000): StartLedger {
  const answers = new Map<string, Promise<string | undefined>>();
  return {
    refuse(use) {
      const key = `${use.workflowId}/${use.runId}`;
      const known = answers.get(key);
      if (known) return known;
      const answer = ledger.refuse(use);
      // A failed lookup is not remembered: Temporal retries the activity, and the next attempt asks again.
      answer.catch(() => answers.delete(key));
      answers.set(key, answer);
      if (answers.size > size) answers.delete(answers.keys().next().value as string);
      return answer;
    },
  };
}
