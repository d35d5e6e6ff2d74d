// opsflow's own security facts, as the agent counts them: from the statuses of the deploys it ran and the freeze
// requests it was sent. Counters only; they travel as fields and the review renders them.

/** Security facts of a window, counted from typed records (never from timeline text). */
export interface SecurityCounts {
  /** Deploys started without a signature where approvals are signed: the worker's policy lets such starts through. */
  unsignedStarts: number;
  /** Deploys refused because the worker's policy needs a signed start and the start was not signed. */
  unsignedRefused: number;
  /**
   * Signed statements and evidence the worker refused: a start whose signature did not hold or was used before, a
   * policy answer that was not the worker's, approvals or overrides a protected change presented that did not verify,
   * a freeze request the worker refused.
   */
  forgeriesRefused: number;
  /** Deploy requests that would have loosened the worker's approval policy, refused. */
  looseningRefused: number;
  /** Signed break-glass overrides that let a deploy through a freeze. */
  breakGlassOverrides: number;
}

/** No security fact yet. */
export function emptySecurity(): SecurityCounts {
  return { unsignedStarts: 0, unsignedRefused: 0, forgeriesRefused: 0, looseningRefused: 0, breakGlassOverrides: 0 };
}

/** The sum of two counts; a state carried over from an agent before them has none (undefined). */
export function addSecurity(a: SecurityCounts | undefined, b: Partial<SecurityCounts> | undefined): SecurityCounts {
  const sum = emptySecurity();
  for (const key of Object.keys(sum) as (keyof SecurityCounts)[]) sum[key] = (a?.[key] ?? 0) + (b?.[key] ?? 0);
  return sum;
}

/** Refusals that someone tried something the policy does not allow (overrides and unsigned starts let through aside). */
export function refusals(s: SecurityCounts): number {
  return s.unsignedRefused + s.forgeriesRefused + s.looseningRefused;
}

/** "1 refused forgery, 0 unsigned starts refused (2 let through), ..." for people. */
export function securityText(s: SecurityCounts): string {
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  return (
    `${n(s.forgeriesRefused, 'refused forgery', 'refused forgeries')}, ` +
    `${n(s.unsignedRefused, 'unsigned start')} refused (${s.unsignedStarts} let through by the policy), ` +
    `${n(s.looseningRefused, 'policy loosening request')} refused, ` +
    `${n(s.breakGlassOverrides, 'break-glass override')}`
  );
}
