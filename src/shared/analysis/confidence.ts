/**
 * The confidence each look at the canary asks for, and the Wilson bound that judges a threshold with it: shared by the
 * checks of every revision of the judgement's rules.
 */

/**
 * Which look at the canary a judgement is: one sample of many, or the step's whole window, judged once at its end. A
 * sample is one of up to 60 looks at the same canary in the default ramp, so its tests ask for α = 0.001 (about
 * 0.05 / 60, Bonferroni's bound for 60 looks): a healthy release then almost never shows a failing sample by chance,
 * and the failure budget counts evidence, not noise. The step's window is judged once: α = 0.05.
 */
export type Look = 'sample' | 'step';

/** Significance each look asks for: a one-sided p-value below this says the canary is worse. */
export const ALPHA: Record<Look, number> = { sample: 0.001, step: 0.05 };

/** One-sided normal quantiles of 1 − ALPHA, for the Wilson bound of a threshold crossed with confidence. */
export const Z: Record<Look, number> = { sample: 3.090232306167813, step: 1.6448536269514729 };

/**
 * Below this probability that a canary request is slower than a stable one, a significant latency difference is too
 * small to mention (Vargha and Delaney's "small" effect, A = 0.56: J. Educ. Behav. Stat. 25(2), 2000).
 */
export const SMALL_EFFECT = 0.56;

/** Lower end of the one-sided Wilson score interval of events / trials at normal quantile z (0 without trials). */
export function wilsonLower(events: number, trials: number, z: number): number {
  if (!(trials > 0)) return 0;
  const p = Math.min(1, Math.max(0, events / trials));
  const z2 = z * z;
  const centre = p + z2 / (2 * trials);
  const half = z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return Math.max(0, (centre - half) / (1 + z2 / trials));
}
