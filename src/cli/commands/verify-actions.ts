// What `opsflow deploy verify` does, loaded when it runs.
import { loadConfig } from '../../config/load';
import { resolvePolicy } from '../../config/policy';
import { failedDecisions, verifyHistory, type CheckedDecision, type Verification } from '../../keys/verify';
import { statusQuery } from '../../shared/deploy/messages';
import { decodeHistoryPayloads } from '../../temporal/codec';
import { withClient } from '../client';
import { print, printJson } from '../output';

export interface VerifyOptions {
  json?: boolean;
  /** The worker's opsflow.yaml whose policy the decisions are verified against. */
  config?: string;
  /** Verify against the policy recorded in the history instead: only as trustworthy as the history. */
  recordedPolicy?: boolean;
}

/**
 * Re-verifies every decision of a deploy from its history against the policy the verifier holds (its worker's
 * opsflow.yaml), never the one the history says it was answered; answers the exit code: 0 when every decision the
 * deploy acted on holds, 1 otherwise. A Signal the deploy ignored is listed as a refused attempt and fails nothing.
 */
export async function verifyDeploy(workflowId: string, opts: VerifyOptions): Promise<number> {
  const own = opts.recordedPolicy ? undefined : loadConfig(opts.config);
  const policy = own ? resolvePolicy(own.config, own.path) : undefined;
  return withClient(async (client) => {
    const described = await client.workflow.getHandle(workflowId).describe();
    const handle = client.workflow.getHandle(workflowId, described.runId);
    // Raw events: encrypted payloads are decoded with the CLI's codec (a no-op when it has none).
    const history = await decodeHistoryPayloads(
      await handle.fetchHistory(),
      client.options.loadedDataConverter.payloadCodecs,
    );
    // A deploy still running has no report in its history yet: its live status says which Signals counted.
    const status =
      described.status.name === 'RUNNING' ? await handle.query(statusQuery).catch(() => undefined) : undefined;
    const result = verifyHistory(workflowId, client.options.namespace, history.events ?? [], {
      runId: described.runId,
      ...(policy ? { policy } : {}),
      ...(status ? { status } : {}),
    });
    const failed = failedDecisions(result);
    if (opts.json) printJson(result);
    else print(...verificationLines(result, failed.length));
    return failed.length ? 1 : 0;
  });
}

/** What a person reads: whose policy, each decision with what became of it, and the verdict. */
export function verificationLines(result: Verification, failed: number): string[] {
  const demo = result.trustTypedNames ? ' (typed names trusted: demo mode)' : '';
  const lines = [
    result.policyFrom === 'verifier'
      ? `policy: this verifier's, ${result.policySource}${demo}`
      : result.policyFrom === 'history'
        ? `policy: the one recorded in the history${demo} (only as trustworthy as the history: --recorded-policy)`
        : 'no policy to verify against (a deploy from before signed decisions, verified with --recorded-policy)',
  ];
  if (result.recordedPolicyDiffers.length) {
    lines.push(
      `the history's recorded policy holds other keys than this verifier's for: ${result.recordedPolicyDiffers.join(', ')}`,
    );
  }
  for (const d of result.decisions) lines.push(decisionLine(d));
  if (result.decisions.length === 0) lines.push('no decisions recorded');
  const refused = result.decisions.filter((d) => d.effect === 'ignored').length;
  const attempts = refused ? `; ${refused} refused attempt(s) were ignored by the deploy` : '';
  lines.push(
    failed
      ? `${failed} decision(s) the deploy acted on do not verify${attempts}`
      : `every decision verifies${attempts}`,
  );
  return lines;
}

function decisionLine(d: CheckedDecision): string {
  const proof = d.chat
    ? `signed through ${d.chat.platform} by bridge ${d.chat.bridge} for ${d.chat.user}`
    : d.signed
      ? 'signed'
      : 'unsigned';
  const what =
    d.effect === 'ignored'
      ? `refused attempt, ignored by the deploy${d.problem ? `: ${d.problem}` : ''}`
      : (d.problem ?? 'verified');
  const unknown = d.effect === 'unknown' && d.problem ? ' (whether the deploy acted on it is not known)' : '';
  return `${d.at} ${d.action} ${d.environment} by ${d.person} (${d.via}, ${proof}): ${what}${unknown}`;
}
