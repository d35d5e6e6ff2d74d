/**
 * The local platform, with real service processes (examples/hello) behind its router, passes the deploy target
 * contract through the target the worker builds for it from opsflow.yaml. Every case gets a platform of its own.
 * Run: node --import tsx --test test/integration/local-target.test.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { targetsFromConfig } from '../../src/activities/targets/registry';
import { configSchema } from '../../src/config/schema';
import { startLocalPlatform } from '../../src/local-platform/server';
import { describeTargetContract } from '../helpers/target-contract';

const HELLO = path.resolve(__dirname, '../../examples/hello/server.js');

function config(port: number, tokenFile?: string) {
  return configSchema.parse({
    project: 'local-target-contract',
    platform: { local: { port, trafficRps: 0, tokenFile } },
    services: {
      hello: {
        target: {
          kind: 'local',
          command: ['node', HELLO],
          versions: ['1.0.0', '1.1.0', '1.2.0'],
          initialVersion: '1.0.0',
        },
      },
    },
    pipeline: ['staging'],
    environments: { staging: {} },
  });
}

describeTargetContract('local platform', async () => {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'opsflow-local-target-'));
  const platform = await startLocalPlatform({ config: config(0), stateDir, logger: pino({ level: 'silent' }) });
  // The registry builds the target from the config, as the worker does.
  const target = targetsFromConfig(config(Number(new URL(platform.url).port), platform.tokenFile)).targetFor('hello');
  return {
    target,
    service: 'hello',
    environment: 'staging',
    stable: '1.0.0',
    releases: ['1.1.0', '1.2.0'],
    unknownVersion: '9.9.9',
    unknownEnvironment: 'production',
    close: async () => {
      await platform.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
});
