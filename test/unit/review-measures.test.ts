import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../src/activities/agent';
import { securityFacts } from '../../src/activities/agent/facts';
import { metricsCoverage } from '../../src/activities/agent/monitoring';
import { renderSelfReview } from '../../src/activities/agent/review';
import { parseNpmAudit } from '../../src/activities/security/npm-audit';
import { parseOsvScanner } from '../../src/activities/security/osv-scanner';
import { scanServices } from '../../src/activities/security/scan';
import { securityConfigSchema, type SecurityConfig } from '../../src/activities/security/config';
import { ScannerOutputError } from '../../src/activities/security/contract';
import { agentConfigSchema } from '../../src/config/agent';
import { configSchema } from '../../src/config/schema';
import { loadConfig } from '../../src/config/load';
import {
  buildSelfReview,
  emptyFigures,
  foldDeploy,
  initialState,
  reviewMeasuresSchema,
  type ReviewMeasures,
} from '../../src/shared/agent';
import { nextReviewTime } from '../../src/shared/agent/config';
import type { DeployResult, DeployStatus } from '../../src/shared/deploy';
import { testConfig } from '../helpers/config';

const root = mkdtempSync(path.join(os.tmpdir(), 'opsflow-measures-'));
after(() => rmSync(root, { recursive: true, force: true }));
const context = { baseDir: root, env: process.env };

/**
 * A registry that speaks npm's audit wire format: the bulk advisory endpoint (gzipped JSON body: package → versions)
 * and the packuments npm reads to work out which versions an advisory covers. `refuseAudit` answers the audit like a
 * registry without it (405).
 */
function fakeRegistry(options: { refuseAudit?: boolean } = {}) {
  const advisories: Record<string, unknown[]> = {
    lodash: [
      {
        id: 1106913,
        url: 'https://github.com/advisories/GHSA-35jh-r3h4-6jhm',
        title: 'Command Injection in lodash',
        severity: 'high',
        vulnerable_versions: '<4.17.21',
        cwe: ['CWE-77'],
        cvss: { score: 7.2, vectorString: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H' },
      },
    ],
  };
  const packument = (name: string, versions: string[]) => ({
    name,
    'dist-tags': { latest: versions.at(-1) },
    versions: Object.fromEntries(
      versions.map((v) => [v, { name, version: v, dist: { tarball: `http://127.0.0.1/${name}-${v}.tgz` } }]),
    ),
  });
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      asked.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST' && req.url === '/-/npm/v1/security/advisories/bulk') {
        if (options.refuseAudit) {
          res.statusCode = 405;
          res.end();
          return;
        }
        const wanted = JSON.parse(body.toString()) as Record<string, string[]>;
        res.end(
          JSON.stringify(
            Object.fromEntries(Object.keys(wanted).flatMap((k) => (advisories[k] ? [[k, advisories[k]]] : []))),
          ),
        );
      } else if (req.url === '/lodash') {
        res.end(JSON.stringify(packument('lodash', ['4.17.20', '4.17.21'])));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
  });
  return {
    asked,
    start: () =>
      new Promise<string>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)),
      ),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A project whose lockfile holds lodash 4.17.20 (vulnerable) and minimist 1.2.5. */
function vulnerableProject(): string {
  const dir = path.join(root, 'shop');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'shop', version: '1.0.0', private: true }));
  writeFileSync(
    path.join(dir, 'package-lock.json'),
    JSON.stringify({
      name: 'shop',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': { name: 'shop', version: '1.0.0', dependencies: { lodash: '^4.17.20', minimist: '^1.2.5' } },
        'node_modules/lodash': { version: '4.17.20', license: 'MIT' },
        'node_modules/minimist': { version: '1.2.5', license: 'MIT' },
      },
    }),
  );
  return path.join(dir, 'package-lock.json');
}

function npmAuditConfig(registry: string, lockfile: string): SecurityConfig {
  return securityConfigSchema.parse({
    scanner: 'npm-audit',
    command: [
      'npm',
      'audit',
      '--json',
      '--package-lock-only',
      '--registry',
      registry,
      '--cache',
      path.join(root, 'npm-cache'),
    ],
    timeout: '60s',
    services: { shop: { lockfile } },
  });
}

describe('npm audit, run by the worker on a lockfile', () => {
  const registry = fakeRegistry();
  let url = '';
  before(async () => {
    url = await registry.start();
  });
  after(() => registry.stop());

  it("reads the real npm's report (version 2): counts by severity and the advisory's GHSA id", async () => {
    const [scan] = await scanServices(npmAuditConfig(url, vulnerableProject()), { shop: '2.0.0' }, context);
    assert.ok(registry.asked.includes('POST /-/npm/v1/security/advisories/bulk'), registry.asked.join(', '));
    assert.equal(scan?.error, undefined);
    assert.deepEqual(scan?.counts, { critical: 0, high: 1, moderate: 0, low: 0, info: 0, unknown: 0 });
    assert.deepEqual(scan?.top, [
      { id: 'GHSA-35jh-r3h4-6jhm', package: 'lodash', severity: 'high', title: 'Command Injection in lodash' },
    ]);
    assert.equal(scan?.version, '2.0.0');
  });

  it('says why when the registry has no audit endpoint (npm prints its error document and exits 1)', async () => {
    const refusing = fakeRegistry({ refuseAudit: true });
    const at = await refusing.start();
    try {
      const [scan] = await scanServices(npmAuditConfig(at, vulnerableProject()), {}, context);
      assert.equal(scan?.counts, undefined);
      assert.match(scan?.error ?? '', /^npm audit failed: 405 Method Not Allowed/);
    } finally {
      await refusing.stop();
    }
  });
});

describe('scanner output and subjects', () => {
  it('refuses what is not a version 2 report', () => {
    assert.throws(() => parseNpmAudit('npm ERR! something'), ScannerOutputError);
    assert.throws(
      () => parseNpmAudit(JSON.stringify({ auditReportVersion: 1, advisories: {} })),
      /not an npm audit report version 2 \(auditReportVersion/,
    );
  });

  it("counts osv-scanner's groups once, by max_severity, else the GitHub advisory's own word", () => {
    const report = parseOsvScanner(
      JSON.stringify({
        results: [
          {
            source: { path: '/app/package-lock.json', type: 'lockfile' },
            packages: [
              {
                package: { name: 'lodash', version: '4.17.20', ecosystem: 'npm' },
                vulnerabilities: [
                  { id: 'GHSA-35jh-r3h4-6jhm', aliases: ['CVE-2021-23337'], summary: 'Command Injection in lodash' },
                  { id: 'CVE-2021-23337', aliases: ['GHSA-35jh-r3h4-6jhm'] },
                  {
                    id: 'GHSA-29mw-wpgm-hmr9',
                    summary: 'ReDoS in lodash',
                    database_specific: { severity: 'MODERATE' },
                  },
                ],
                groups: [
                  { ids: ['CVE-2021-23337', 'GHSA-35jh-r3h4-6jhm'], aliases: [], max_severity: '7.2' },
                  { ids: ['GHSA-29mw-wpgm-hmr9'], max_severity: '' },
                ],
              },
              {
                package: { name: 'minimist', version: '1.2.5', ecosystem: 'npm' },
                vulnerabilities: [{ id: 'GHSA-xvch-5gv4-984h', summary: 'Prototype Pollution in minimist' }],
                groups: [{ ids: ['GHSA-xvch-5gv4-984h'], max_severity: '9.8' }],
              },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(report.counts, { critical: 1, high: 1, moderate: 1, low: 0, info: 0, unknown: 0 });
    assert.deepEqual(
      report.top.map((v) => `${v.package} ${v.id} ${v.severity}`),
      [
        'minimist GHSA-xvch-5gv4-984h critical',
        'lodash GHSA-35jh-r3h4-6jhm high',
        'lodash GHSA-29mw-wpgm-hmr9 moderate',
      ],
    );
    assert.deepEqual(parseOsvScanner(JSON.stringify({ results: [] })).counts.high, 0);
    assert.throws(() => parseOsvScanner('Scanning dir ./\n'), /osv-scanner printed no JSON/);
  });

  it('fills an image reference with the promoted version, and says why it cannot scan', async () => {
    // A stand-in for osv-scanner that prints an empty report and the image it was asked about on stderr.
    const printer = path.join(root, 'fake-osv.js');
    writeFileSync(printer, 'process.stderr.write(process.argv.at(-1)); process.stdout.write(\'{"results":[]}\');');
    const config = securityConfigSchema.parse({
      scanner: 'osv-scanner',
      command: [process.execPath, printer, '{{image}}'],
      services: { api: { image: 'ghcr.io/acme/api:{{version}}' }, web: { lockfile: 'web/package-lock.json' } },
    });
    const [api, web] = await scanServices(config, { api: '1.4.0' }, context);
    assert.equal(api?.target, 'ghcr.io/acme/api:1.4.0');
    assert.equal(api?.counts?.critical, 0);
    assert.match(web?.error ?? '', /^no lockfile at .*web\/package-lock\.json$/);
    const [unknown] = await scanServices(config, {}, context);
    assert.equal(unknown?.error, 'no promoted version of the service is known yet');
    assert.throws(
      () => securityConfigSchema.parse({ scanner: 'npm-audit', services: { api: { image: 'x' } } }),
      /npm audit cannot scan an image/,
    );
  });
});

const result = (over: Partial<DeployResult> = {}): DeployResult => ({
  deployId: 'deploy-hello-1.1.0-x',
  service: 'hello',
  version: '1.1.0',
  outcome: 'failed',
  reason: 'refused',
  phase: 'FAILED',
  durationMs: 1_000,
  report: null,
  ...over,
});

describe("opsflow's own security facts", () => {
  it('counts them from the typed fields of a deploy: refusals by kind, unsigned starts, overrides', () => {
    const refusedAs = (refusal: 'unsigned-start' | 'loosening' | 'evidence') =>
      securityFacts(null, result({ cause: { kind: 'error', errorType: 'PolicyRefused', message: 'no', refusal } }));
    assert.equal(refusedAs('unsigned-start').unsignedRefused, 1);
    assert.equal(refusedAs('loosening').looseningRefused, 1);
    assert.equal(refusedAs('evidence').forgeriesRefused, 1);
    // The message alone says nothing to the count: only the typed refusal does.
    const untyped = securityFacts(
      null,
      result({ cause: { kind: 'error', errorType: 'PolicyRefused', message: 'forged' } }),
    );
    assert.equal(untyped.forgeriesRefused, 0);
    const status = {
      trust: { mode: 'signed', source: 'opsflow.yaml' },
      requester: { person: 'mallory', signed: false, signatureRefused: true },
      controls: [
        { action: 'override', by: 'alice', at: 't', via: 'update', phase: 'FROZEN' },
        { action: 'override', by: 'bob', at: 't', via: 'update', phase: 'FROZEN' },
        { action: 'pause', by: 'bob', at: 't', via: 'update', phase: 'CANARY' },
      ],
    } as unknown as DeployStatus;
    assert.deepEqual(securityFacts(status, result({ outcome: 'promoted' })), {
      unsignedStarts: 1,
      unsignedRefused: 0,
      forgeriesRefused: 1,
      looseningRefused: 0,
      breakGlassOverrides: 2,
    });
    // Typed names (demo mode): an unsigned start is how every start is.
    const demo = { ...status, trust: { mode: 'typed-names', source: 'demo' } } as DeployStatus;
    assert.equal(securityFacts(demo, result()).unsignedStarts, 0);
  });
});

const agentConfig = agentConfigSchema.parse({});
const T0 = Date.UTC(2026, 10, 23, 9, 0);

/** The day's review of a state that saw one refused forgery, with what the worker measured. */
function reviewWith(measures: ReviewMeasures | null) {
  const state = initialState(T0, agentConfig, nextReviewTime(T0, '09:00'));
  const facts = {
    approvalWaitMs: 0,
    restoreMs: null,
    inconclusiveSamples: 2,
    unmeasuredSamples: 0,
    samples: 9,
    environment: null,
    files: [],
  };
  const record = {
    deployId: 'd',
    service: 'hello',
    version: '1.1.0',
    requestedBy: 'carol',
    requestedAt: 't',
    finishedAt: 't',
    outcome: 'failed' as const,
    reason: 'refused',
    durationMs: 1_000,
    pipelineMs: 1_000,
    leadTimeMs: null,
    restoreMs: null,
    cause: 'error',
    files: [],
  };
  state.day = foldDeploy(
    emptyFigures(),
    record,
    { ...facts, security: { ...securityFacts(null, result()), forgeriesRefused: 1 } },
    agentConfig.targets,
  );
  return buildSelfReview({
    project: 'example',
    state,
    fromMs: T0,
    nowMs: T0 + 86_400_000,
    config: agentConfig,
    measures,
  });
}

describe('the self-review answers vulnerabilities and monitoring with their sources', () => {
  it('the example project: npm audit on examples/hello/package-lock.json, and its metrics sources', async () => {
    const repo = path.join(__dirname, '..', '..');
    const { config, path: configPath } = loadConfig(path.join(repo, 'opsflow.yaml'));
    const acts = createAgentActivities({
      deployStatus: async () => null,
      deployOutcome: async () => null,
      operations: { config, path: configPath },
      scan: { baseDir: repo, env: process.env },
    });
    const measures: ReviewMeasures = await new MockActivityEnvironment().run(acts.agentReviewMeasures, {
      project: 'example',
      workdir: repo,
      deployed: { hello: '1.1.0' },
    });
    assert.ok(reviewMeasuresSchema.safeParse(measures).success);
    const { review } = reviewWith(measures);
    const vulnerabilities = review.answers.find((a) => a.question === 'Any security vulnerabilities detected?');
    assert.equal(vulnerabilities?.status, 'attention', 'the refused forgery needs attention; the scan is clean');
    assert.match(
      vulnerabilities?.answer ?? '',
      /^npm audit: hello 1\.1\.0 \(examples\/hello\/package-lock\.json\): no known vulnerability\. opsflow's own security facts: 1 refused forgery, /,
    );
    assert.equal(
      vulnerabilities?.source,
      "npm audit on examples/hello/package-lock.json; the day's deploy statuses and freeze requests",
    );
    const monitoring = review.answers.find((a) => a.question === 'How can monitoring be improved?');
    assert.equal(monitoring?.status, 'attention');
    assert.match(
      monitoring?.answer ?? '',
      /^Every service has a metrics source \(the local platform's router\); 2 inconclusive and 0 unmeasured/,
    );
    assert.equal(monitoring?.source, "opsflow.yaml (analysis.provider per environment); the day's analysis samples");
    for (const answer of review.answers) assert.ok(answer.source, `${answer.question} names its source`);
    const md = renderSelfReview(review, { text: 'x', source: 'computed summary' });
    assert.match(md, /\| hello \| 1\.1\.0 \| examples\/hello\/package-lock\.json \| no known vulnerability \| – \|/);
    assert.match(md, /\| hello \| production \| the local platform's router \|/);
  });

  it('says "not measured" only where no source is configured, and opens and closes items as measured', () => {
    const none = reviewWith({ vulnerabilities: null, monitoring: null, configPath: null }).review;
    const vulnerabilities = none.answers.find((a) => a.question.startsWith('Any security'));
    assert.match(vulnerabilities?.answer ?? '', /^No vulnerability scanner is configured on the worker/);
    assert.equal(vulnerabilities?.source, "the day's deploy statuses and freeze requests");

    const withKubernetes = configSchema.parse({
      ...testConfig(),
      services: {
        ...testConfig().services,
        api: {
          target: {
            kind: 'kubernetes',
            image: 'ghcr.io/acme/api:{{version}}',
            environments: { staging: { namespace: 'shop', deployment: 'api' } },
          },
        },
      },
    });
    const coverage = metricsCoverage(withKubernetes);
    assert.deepEqual(
      coverage.filter((c) => c.provider === null).map((c) => `${c.service}/${c.environment}`),
      ['api/staging'],
      'the local platform cannot measure a kubernetes service; it does not run in production',
    );
    const found: ReviewMeasures = {
      vulnerabilities: {
        scanner: 'npm audit',
        scans: [
          {
            service: 'hello',
            version: '1.1.0',
            target: 'package-lock.json',
            counts: { critical: 1, high: 0, moderate: 0, low: 0, info: 0, unknown: 0 },
            top: [],
          },
        ],
      },
      monitoring: coverage,
      configPath: 'opsflow.yaml',
    };
    const first = reviewWith(found);
    assert.equal(first.review.answers.find((a) => a.question.startsWith('Any security'))?.status, 'failing');
    assert.match(
      first.review.answers.find((a) => a.question.startsWith('How can'))?.answer ?? '',
      /^No metrics source for api in staging \(analysis\.provider is local/,
    );
    assert.deepEqual(
      first.review.improvementsOpened.filter((k) => k === 'vulnerabilities' || k === 'metrics-source'),
      ['vulnerabilities', 'metrics-source'],
    );
    // Not measured again (the worker did not answer): the items stay; measured clean: they close.
    const state = initialState(T0, agentConfig, nextReviewTime(T0, '09:00'));
    state.improvements = first.improvements;
    const unanswered = buildSelfReview({
      project: 'example',
      state,
      fromMs: T0,
      nowMs: T0 + 86_400_000,
      config: agentConfig,
      measures: null,
    });
    assert.deepEqual(unanswered.review.improvementsClosed, []);
    const clean: ReviewMeasures = {
      ...found,
      vulnerabilities: {
        scanner: 'npm audit',
        scans: [
          {
            ...found.vulnerabilities!.scans[0]!,
            counts: { critical: 0, high: 0, moderate: 0, low: 0, info: 0, unknown: 0 },
          },
        ],
      },
      monitoring: coverage.filter((c) => c.provider !== null),
    };
    const fixed = buildSelfReview({
      project: 'example',
      state,
      fromMs: T0,
      nowMs: T0 + 86_400_000,
      config: agentConfig,
      measures: clean,
    });
    assert.deepEqual(fixed.review.improvementsClosed.sort(), ['metrics-source', 'vulnerabilities']);
  });
});
