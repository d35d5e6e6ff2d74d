/**
 * Builds one deploy target per service from opsflow.yaml (`services.<name>.target`). Adding a kind is a folder beside
 * `local/` and one line in {@link KINDS}; the compiler asks for that line once the kind is in the config union.
 */
import type { OpsflowConfig, TargetConfig, TargetKind } from '../../config/schema';
import { localPlatformClient } from '../../local-platform/client';
import { InvalidTargetRequest, type DeployTarget } from './contract';
import { CommandTarget } from './command/target';
import { KubernetesTarget } from './kubernetes/target';
import { LocalTarget } from './local/target';
import { VercelTarget } from './vercel/target';

/** What a kind's factory gets besides its own `target:` block. */
export interface TargetContext {
  service: string;
  config: OpsflowConfig;
  /** Bounds each call to the target, for callers that must answer quickly (the CLI); the kind's default otherwise. */
  timeoutMs?: number;
}

type Factory<K extends TargetKind> = (
  target: Extract<TargetConfig, { kind: K }>,
  context: TargetContext,
) => DeployTarget;

/** One line per target kind. */
const KINDS: { [K in TargetKind]: Factory<K> } = {
  local: (_target, { config, timeoutMs }) => new LocalTarget(localPlatformClient(config.platform.local, { timeoutMs })),
  command: (target, { config, timeoutMs }) =>
    new CommandTarget(target, { environments: Object.keys(config.environments), timeoutMs }),
  kubernetes: (target, { config, timeoutMs }) => KubernetesTarget.fromConfig(target, config, timeoutMs),
  vercel: (target, { config, timeoutMs }) => VercelTarget.fromConfig(target, config, timeoutMs),
};

/** The deploy target of each service; the worker builds it from the config, tests from fakes. */
export class TargetRegistry {
  private readonly targets: ReadonlyMap<string, DeployTarget>;

  constructor(targets: Readonly<Record<string, DeployTarget>>) {
    this.targets = new Map(Object.entries(targets));
  }

  /** Whether `service` has a target here. */
  has(service: string): boolean {
    return this.targets.has(service);
  }

  /** The target of `service`; {@link InvalidTargetRequest} naming the configured services otherwise. */
  targetFor(service: string): DeployTarget {
    const target = this.targets.get(service);
    if (!target) {
      const known = [...this.targets.keys()].join(', ') || 'none';
      throw new InvalidTargetRequest(`no deploy target for service "${service}": this worker's config has ${known}`);
    }
    return target;
  }
}

/** One target per service of the config, each built by its kind's line in {@link KINDS}. */
export function targetsFromConfig(config: OpsflowConfig, options: { timeoutMs?: number } = {}): TargetRegistry {
  const targets = Object.entries(config.services).map(([service, { target }]) => {
    // Each entry of KINDS takes its own kind's config: the lookup by `target.kind` guarantees it.
    const build = KINDS[target.kind] as Factory<TargetKind>;
    return [service, build(target, { service, config, ...options })] as const;
  });
  return new TargetRegistry(Object.fromEntries(targets));
}
