import { buildDeployInput } from '../../src/config/deploy-request';
import { configSchema, type OpsflowConfig } from '../../src/config/schema';
import type { DeployInput } from '../../src/shared/deploy';

/** No warm-up: every sample judged, as the tests that count samples expect (the warm-up's own tests set theirs). */
const NO_WARM_UP = { duration: 0, requests: 0 };

/** The example configuration, with short bakes, as tests use it. */
export function testConfig(
  overrides: {
    production?: Record<string, unknown>;
    staging?: Record<string, unknown>;
    /** The service's target, instead of the local platform with 1.0.0 to 1.2.0. */
    target?: Record<string, unknown>;
  } = {},
) {
  return configSchema.parse({
    project: 'test',
    services: {
      hello: {
        target: overrides.target ?? {
          kind: 'local',
          command: ['node', 'examples/hello/server.js'],
          versions: ['1.0.0', '1.1.0', '1.2.0'],
          initialVersion: '1.0.0',
        },
      },
    },
    environments: {
      staging: {
        strategy: 'direct',
        verify: { duration: '2s' },
        analysis: { interval: '1s', minRequests: 10, warmUp: NO_WARM_UP },
        ...overrides.staging,
      },
      production: {
        strategy: 'canary',
        approval: { required: true, approvers: ['alice', 'bob'], timeout: '1h' },
        canary: {
          steps: [
            { weight: 10, bake: '2m' },
            { weight: 50, bake: '2m' },
            { weight: 100, bake: '2m' },
          ],
        },
        analysis: { interval: '30s', minRequests: 10, failureLimit: 2, inconclusiveLimit: 3, warmUp: NO_WARM_UP },
        ...overrides.production,
      },
    },
  });
}

/** A deploy input for hello, as `opsflow deploy start` builds it. */
export function testInput(
  config: OpsflowConfig,
  workdir: string,
  request: { version?: string; requestedBy?: string; feature?: string } = {},
): DeployInput {
  return buildDeployInput(
    config,
    {
      service: 'hello',
      version: request.version ?? '1.1.0',
      requestedBy: request.requestedBy ?? 'carol',
      ...(request.feature ? { feature: request.feature } : {}),
    },
    { workdir },
  );
}
