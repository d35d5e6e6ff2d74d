// Small pieces every part of OPERATIONS.md is written with: escaping, source lines, the config's environments.
import type { EnvironmentConfig, OpsflowConfig } from '../../config/schema';
import { formatDuration } from '../../shared/duration';
import { percent } from '../../shared/format';
import { inlineMarkdown } from '../../shared/markdown';
import type { Missing } from './types';

/** Untrusted or free text (names, reasons, paths, values from files) in a line or a table cell: escaped, one line. */
export const text = inlineMarkdown;

/** A duration as the config would write it: "6.0s", "24h". */
export const duration = formatDuration;

/** A ratio as a percentage with two decimals: "1.00 %". */
export const ratio = (value: number): string => percent(value);

// eslint-disable-next-line no-control-regex -- stripping control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** A value as inline code where it can be (no backtick or pipe to break out of it), else as escaped text. */
export function code(value: string): string {
  const clean = value.replace(CONTROL, '');
  return /[`|]/.test(clean) || clean.trim() === '' ? text(clean) : `\`${clean}\``;
}

/** The line under a heading that names where its facts come from (`what` is markdown already). */
export function source(...what: string[]): string {
  return `_Source: ${what.join('; ')}._`;
}

/** The one line of a section without a source: what would fill it (markdown already). */
export function noSource(what: string): string {
  return `_No source yet: ${what}._`;
}

/** A section whose source gave nothing: why, and what would fill it. */
export function missingSource(source: Missing, fill: string): string {
  return noSource(`${text(source.missing)}; ${fill}`);
}

/** A list of names, escaped: "alice, bob", or `none`. */
export function names(list: readonly string[], none = 'none'): string {
  return list.length ? list.map(text).join(', ') : none;
}

/** The config's environments in the order a change goes through them, then any the pipeline does not name. */
export function environmentsOf(config: OpsflowConfig): { name: string; env: EnvironmentConfig; inPipeline: boolean }[] {
  const ordered = [...config.pipeline, ...Object.keys(config.environments).filter((e) => !config.pipeline.includes(e))];
  return ordered.flatMap((name) => {
    const env = Object.hasOwn(config.environments, name) ? config.environments[name] : undefined;
    return env ? [{ name, env, inPipeline: config.pipeline.includes(name) }] : [];
  });
}

/** How a change moves through one environment: its steps, written from the config. */
export function stepsOf(env: EnvironmentConfig): string {
  if (env.strategy === 'canary') {
    return env.canary.steps.map((s) => `${s.weight} % for ${duration(s.bake)}`).join(' → ');
  }
  if (env.strategy === 'blue-green') {
    return (
      `green beside blue, all traffic switched at once, verified for ${duration(env.blueGreen.verify)}, ` +
      `blue kept warm for ${duration(env.blueGreen.keepBlue)}`
    );
  }
  return `all traffic to the new version, verified for ${duration(env.verify.duration)}`;
}

/** What undoes a bad release in one environment, by its strategy. */
export function failoverOf(env: EnvironmentConfig): string {
  if (env.strategy === 'canary') return "the canary's traffic to 0 %, the stable version serving all of it";
  if (env.strategy === 'blue-green') return 'all traffic switched back to blue, kept warm for the purpose';
  return 'traffic back to the stable version, which kept running beside the new one';
}
