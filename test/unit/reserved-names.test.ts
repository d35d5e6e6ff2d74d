/**
 * Names are looked up as own properties: constructor, __proto__ or toString as a service or environment is refused in
 * one line instead of finding Object's property and crashing.
 * Run: node --import tsx --test test/unit/reserved-names.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDeployInput } from '../../src/config/deploy-request';
import { configSchema } from '../../src/config/schema';
import { nameSchema } from '../../src/shared/validation';
import { testConfig } from '../helpers/config';

const RESERVED = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'Constructor'];

describe('reserved names', () => {
  it('nameSchema refuses the names every object answers to, in one line', () => {
    for (const name of RESERVED) {
      const result = nameSchema.safeParse(name);
      assert.equal(result.success, false, name);
    }
    assert.match(nameSchema.safeParse('toString').error?.issues[0]?.message ?? '', /is reserved/);
    assert.equal(nameSchema.safeParse('constructors').success, true);
  });

  it('a deploy request for service constructor or toString is refused, not crashed on', () => {
    for (const service of ['constructor', 'toString']) {
      assert.throws(
        () =>
          buildDeployInput(testConfig(), { service, version: '1.1.0', requestedBy: 'carol' }, { workdir: '/tmp/x' }),
        (err: Error) => err.name !== 'TypeError' && /^--service: /.test(err.message),
      );
    }
  });

  it('opsflow.yaml cannot name a service or environment constructor', () => {
    const raw = {
      project: 'p',
      services: {
        constructor: { target: { kind: 'local', command: ['x'], versions: ['1.0.0'], initialVersion: '1.0.0' } },
      },
      pipeline: ['staging'],
      environments: { staging: {} },
    };
    assert.equal(configSchema.safeParse(raw).success, false);
    const env = {
      ...raw,
      services: { hello: raw.services.constructor },
      environments: { toString: {} },
      pipeline: ['toString'],
    };
    assert.equal(configSchema.safeParse(env).success, false);
  });
});
