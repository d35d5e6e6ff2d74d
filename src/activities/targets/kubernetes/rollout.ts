/**
 * `kubectl rollout status` for a Deployment, as data: done, still progressing (and why), or failed (the progress
 * deadline passed), with the waiting reasons of the pods that are not ready (ImagePullBackOff, CrashLoopBackOff, ...)
 * so a failure names what a person fixes. Waiting polls the Deployment; it never waits past the caller's budget.
 */
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { formatDuration } from '../../../shared/duration';
import { selectorString, type KubeClient } from './client';
import { LABEL, REVISION_ANNOTATION } from './labels';

/** Where a Deployment's rollout stands. */
export type RolloutState =
  { phase: 'done'; replicas: number } | { phase: 'progressing'; reason: string } | { phase: 'failed'; reason: string };

/**
 * The rollout's state by the rules of `kubectl rollout status` (DeploymentStatusViewer): the controller has seen the
 * latest spec (observedGeneration ≥ generation), the Progressing condition is not ProgressDeadlineExceeded, every
 * replica is updated, no old replica is left, and every updated replica is available.
 */
export function rolloutState(deployment: V1Deployment): RolloutState {
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  if ((status.observedGeneration ?? 0) < generation) {
    return { phase: 'progressing', reason: 'waiting for the Deployment controller to see the new spec' };
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { phase: 'failed', reason: `exceeded its progress deadline (${progressing.message ?? 'no message'})` };
  }
  const wanted = deployment.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < wanted) return { phase: 'progressing', reason: `${updated} of ${wanted} replicas updated` };
  if (total > updated) return { phase: 'progressing', reason: `${total - updated} old replicas pending termination` };
  if (available < updated) return { phase: 'progressing', reason: `${available} of ${updated} replicas available` };
  return { phase: 'done', replicas: wanted };
}

/** The ReplicaSet of the Deployment's current revision (the one its pod template makes), if the controller made it. */
export async function currentReplicaSet(client: KubeClient, deployment: V1Deployment): Promise<V1ReplicaSet | null> {
  const namespace = deployment.metadata?.namespace ?? '';
  const uid = deployment.metadata?.uid;
  const revision = deployment.metadata?.annotations?.[REVISION_ANNOTATION];
  const matchLabels = deployment.spec?.selector.matchLabels ?? {};
  const sets = await client.listReplicaSets(namespace, selectorString(matchLabels));
  const owned = sets.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller));
  return owned.find((rs) => rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision) ?? null;
}

/** One line per kind of trouble among the pods that are not ready: "2 pods ImagePullBackOff: Back-off pulling ...". */
export function podProblems(pods: readonly V1Pod[]): string[] {
  const byReason = new Map<string, { count: number; example: string }>();
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (ready) continue;
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    let found = false;
    for (const s of statuses) {
      const waiting = s.state?.waiting;
      const terminated = s.state?.terminated ?? s.lastState?.terminated;
      const reason = waiting?.reason ?? (s.ready ? undefined : terminated?.reason);
      if (!reason) continue;
      const message = waiting?.message ?? terminated?.message ?? '';
      add(byReason, reason, `${pod.metadata?.name}/${s.name}${message ? `: ${message}` : ''}`);
      found = true;
    }
    if (!found) {
      const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
      if (unscheduled)
        add(byReason, unscheduled.reason ?? 'Unschedulable', `${pod.metadata?.name}: ${unscheduled.message ?? ''}`);
    }
  }
  return [...byReason].map(
    ([reason, { count, example }]) => `${count} pod${count === 1 ? '' : 's'} ${reason} (${oneLine(example)})`,
  );
}

function add(map: Map<string, { count: number; example: string }>, reason: string, example: string): void {
  const seen = map.get(reason);
  if (seen) seen.count += 1;
  else map.set(reason, { count: 1, example });
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** The pods of the Deployment's current ReplicaSet that are not ready, described. */
export async function describePods(client: KubeClient, deployment: V1Deployment): Promise<string[]> {
  const rs = await currentReplicaSet(client, deployment);
  const hash = rs?.metadata?.labels?.[LABEL.podTemplateHash];
  if (!hash) return [];
  const matchLabels = { ...(deployment.spec?.selector.matchLabels ?? {}), [LABEL.podTemplateHash]: hash };
  const pods = await client.listPods(deployment.metadata?.namespace ?? '', selectorString(matchLabels));
  return podProblems(pods);
}

/** How a wait ended. */
export type WaitOutcome =
  { phase: 'done'; replicas: number } | { phase: 'failed'; reason: string } | { phase: 'waiting'; reason: string };

/** What {@link waitForRollout} watches and for how long. */
export interface WaitOptions {
  namespace: string;
  name: string;
  /** Epoch ms after which a rollout that is not done has failed (our progress deadline), if any. */
  deadline?: number;
  /** Epoch ms at which to stop waiting and answer `waiting` (the caller's time budget). */
  until: number;
  /** The progress deadline, for messages. */
  progressDeadlineMs: number;
  pollMs?: number;
}

/**
 * Polls the Deployment until its rollout is done, fails (ProgressDeadlineExceeded, or `deadline` passed), or the
 * budget `until` runs out. A failure or a wait still going names the pods' waiting reasons.
 */
export async function waitForRollout(client: KubeClient, options: WaitOptions): Promise<WaitOutcome> {
  const pollMs = options.pollMs ?? 250;
  for (;;) {
    const deployment = await client.getDeployment(options.namespace, options.name);
    if (!deployment) return { phase: 'failed', reason: `Deployment ${options.namespace}/${options.name} is gone` };
    const state = rolloutState(deployment);
    if (state.phase === 'done') return state;
    const now = Date.now();
    const overdue = options.deadline !== undefined && now >= options.deadline;
    if (state.phase === 'failed' || overdue || now + pollMs >= options.until) {
      const problems = await describePods(client, deployment);
      const reason =
        state.phase === 'failed'
          ? state.reason
          : overdue
            ? `not available within the progress deadline of ${formatDuration(options.progressDeadlineMs)}: ${state.reason}`
            : state.reason;
      const withPods = problems.length ? `${reason}; ${problems.join('; ')}` : reason;
      return state.phase === 'failed' || overdue
        ? { phase: 'failed', reason: withPods }
        : { phase: 'waiting', reason: withPods };
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The current activity's start-to-close timeout, or undefined outside an activity (the CLI, tests). */
export async function activityTimeoutMs(): Promise<number | undefined> {
  try {
    const { Context } = await import('@temporalio/activity');
    return Context.current().info.startToCloseTimeoutMs || undefined;
  } catch {
    return undefined;
  }
}
