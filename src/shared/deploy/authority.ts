import type { SignedStart, SignedStatement } from '../signing';
import type { EnvironmentPlan } from './input';

/**
 * The signed evidence a deploy presents with every change to an environment that needs approval: the rollout that was
 * approved (its hash is what the approvals signed), the approvals that counted, and the requester's signed start. The
 * activity that makes the change checks it against its own worker's policy before it acts, so neither a forged policy
 * or plan result nor a rogue worker nor an edited history can change a protected environment: at most stop a deploy.
 */
export interface Authority {
  plan: EnvironmentPlan;
  approvals: SignedStatement[];
  signedStart?: SignedStart;
  /** Signed break-glass overrides of a freeze holding the environment. */
  overrides?: SignedStatement[];
}

/** What a change presents: the authority, for an environment that needs approval. */
export interface Authorised {
  authority?: Authority;
}
