/** The fake Vercel's state as the JSON Vercel answers with (the SDK's models check it before it is sent). */

/** A deployment the team's build made. */
export interface FakeDeployment {
  uid: string;
  /** Its meta `opsflow.version`. */
  version?: string;
  sha?: string;
  readyState?: 'READY' | 'BUILDING' | 'ERROR';
  target?: 'production' | null;
}

interface Stage {
  targetPercentage: number;
  requireApproval: boolean;
}

/** The rolling release as the fake keeps it. */
export interface FakeRollingRelease {
  canary: string;
  current: string;
  stages: Stage[];
  index: number;
  state: 'ACTIVE' | 'COMPLETE' | 'ABORTED';
  startedAt: number;
  updatedAt: number;
}

/** A deployment as the fake keeps it. */
export type StoredDeployment = Required<FakeDeployment> & { createdAt: number };

/** One deployment as `GET /v7/deployments` lists it. */
export function deploymentJson(d: StoredDeployment, project: string) {
  const meta: Record<string, string> = {};
  if (d.version) meta['opsflow.version'] = d.version;
  if (d.sha) meta['githubCommitSha'] = d.sha;
  return {
    uid: d.uid,
    name: project,
    url: `${d.uid}.vercel.app`,
    created: d.createdAt,
    createdAt: d.createdAt,
    creator: { uid: 'user_1', username: 'team-build' },
    inspectorUrl: null,
    meta,
    projectId: project,
    readyState: d.readyState,
    target: d.target,
    type: 'LAMBDAS',
  };
}

/** The rolling release as `GET /v1/projects/{id}/rolling-release` answers it. */
export function rollingReleaseJson(
  rr: FakeRollingRelease | null,
  deploymentOf: (id: string) => StoredDeployment,
  project: string,
) {
  if (!rr) return null;
  const stage = (i: number) => {
    const s = rr.stages[i];
    if (!s) return null;
    return {
      duration: null,
      index: i,
      isFinalStage: i === rr.stages.length - 1,
      requireApproval: s.requireApproval,
      targetPercentage: s.targetPercentage,
    };
  };
  const deployment = (id: string) => {
    const d = deploymentOf(id);
    return {
      createdAt: d.createdAt,
      id: d.uid,
      name: project,
      readyState: d.readyState,
      target: d.target,
      url: `${d.uid}.vercel.app`,
    };
  };
  const percentage =
    rr.state === 'ABORTED' ? 0 : rr.state === 'COMPLETE' ? 100 : (rr.stages[rr.index]?.targetPercentage ?? 0);
  return {
    activeStage: stage(rr.index),
    advancementType: 'manual-approval',
    canaryDeployment: deployment(rr.canary),
    currentCanaryPercentage: percentage,
    currentDeployment: deployment(rr.current),
    nextStage: rr.state === 'ACTIVE' ? stage(rr.index + 1) : null,
    queuedDeploymentId: null,
    stages: rr.stages.map((_, i) => stage(i)),
    startedAt: rr.startedAt,
    state: rr.state,
    substate: null,
    updatedAt: rr.updatedAt,
  };
}
