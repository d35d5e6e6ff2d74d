// The environment rule most trust tests start from, so each test states only what it changes.
import type { EnvironmentPolicy } from '../../src/shared/deploy';

/** A protected environment alice and bob approve, one of them enough, with signed decisions; `over` changes it. */
export function environmentRules(over: Partial<EnvironmentPolicy> = {}): EnvironmentPolicy {
  return {
    protected: true,
    approvers: ['alice', 'bob'],
    required: 1,
    requireGroups: [],
    allowSelfApproval: false,
    timeoutMs: 3_600_000,
    controls: { pause: 'anyone', resume: 'approvers', promote: 'approvers', abort: 'anyone' },
    signed: ['approve', 'reject', 'resume', 'promote'],
    ...over,
  };
}
