/**
 * The fake target of the workflow tests keeps the same contract as the real targets, so what the workflow tests prove
 * against it holds for them. Run: node --import tsx --test test/unit/target-contract.test.ts
 */
import { FakeTarget } from '../helpers/fakes';
import { describeTargetContract } from '../helpers/target-contract';

describeTargetContract('FakeTarget', async () => ({
  target: new FakeTarget(['1.0.0', '1.1.0', '1.2.0'], { staging: '1.0.0' }),
  service: 'hello',
  environment: 'staging',
  stable: '1.0.0',
  releases: ['1.1.0', '1.2.0'],
  unknownVersion: '9.9.9',
  unknownEnvironment: 'qa',
  close: async () => {},
}));

describeTargetContract('FakeTarget that cannot list its releases', async () => ({
  target: new FakeTarget(undefined, { production: '2.0.0' }),
  service: 'hello',
  environment: 'production',
  stable: '2.0.0',
  releases: ['2.1.0', '3.0.0'],
  unknownEnvironment: 'staging',
  close: async () => {},
}));
