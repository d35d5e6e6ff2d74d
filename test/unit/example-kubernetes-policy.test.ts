/**
 * examples/kubernetes deploys as given (issue 23): its opsflow.yaml names the people who request and approve, with
 * keys where `opsflow keys init` writes them, so the worker's policy resolves and production needs a signed approval.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load';
import { resolvePolicy } from '../../src/config/policy';
import { createKeyPair } from '../../src/keys/keys';

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'kubernetes', 'opsflow.yaml');
const home = mkdtempSync(path.join(os.tmpdir(), 'opsflow-example-home-'));
const realHome = process.env['HOME'];
after(() => {
  process.env['HOME'] = realHome;
  rmSync(home, { recursive: true, force: true });
});

describe('examples/kubernetes/opsflow.yaml', () => {
  it("resolves its policy from the keys 'opsflow keys init' writes, and production needs a signed approval", () => {
    process.env['HOME'] = home;
    const { config } = loadConfig(EXAMPLE);
    assert.throws(
      () => resolvePolicy(config, EXAMPLE),
      /keyFile: cannot read .*alice\.pub; create it with "opsflow keys init --name alice"/,
    );
    const keys = path.join(home, '.config', 'opsflow', 'keys');
    const made = Object.fromEntries(['alice', 'bob', 'carol'].map((name) => [name, createKeyPair(keys, name).line]));
    const policy = resolvePolicy(config, EXAMPLE);
    for (const name of ['alice', 'bob', 'carol']) assert.equal(policy.people[name]?.publicKey, made[name], name);
    const production = policy.environments['production'];
    assert.deepEqual(production?.approvers, ['alice', 'bob']);
    assert.ok(production?.signed.includes('approve'), 'approvals are signed');
  });
});
