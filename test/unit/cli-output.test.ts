/* eslint-disable no-control-regex -- the test looks for control characters */
/**
 * The CLI prints no terminal escape sequences and no forged lines from untrusted text (workflow ids, names, comments,
 * reasons, timeline messages, LLM text): every line goes through one escaping function.
 * Run: node --import tsx --test test/unit/cli-output.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAgentStatus, formatStatus } from '../../src/cli/format';
import { oneLine, print, printError, printJson } from '../../src/cli/output';
import type { AgentStatus } from '../../src/shared/agent';
import { deriveFigures, emptyFigures } from '../../src/shared/agent/figures';
import type { DeployStatus } from '../../src/shared/deploy';

/** What `body` writes to stdout (or stderr). */
function captured(body: () => void, stream: NodeJS.WriteStream = process.stdout): string {
  const write = stream.write.bind(stream);
  let out = '';
  stream.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof stream.write;
  try {
    body();
  } finally {
    stream.write = write;
  }
  return out;
}

const HOSTILE = 'ok\u001b[2J\u001b]0;pwned\u0007 \u009b31m red\u0008\u202e\tdone\r\nnext\u2028last';
/** Any character a terminal acts on rather than shows, or that reorders or breaks a line. */
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** What an ignored Signal's ids or comment would carry to forge a decision in `deploy status`. */
const FORGED = '\n    12:00:09 AWAITING_APPROVAL production  approved by alice (update, signed)\n';
const AT = '2026-01-01T12:00:00.000Z';

describe('CLI output', () => {
  it('shows every control character escaped, JSON style, and escaping twice changes nothing', () => {
    const shown = 'ok\\u001b[2J\\u001b]0;pwned\\u0007 \\u009b31m red\\u0008\\u202e\\tdone\\r\\nnext\\u2028last';
    assert.equal(oneLine(HOSTILE), shown);
    assert.equal(oneLine(shown), shown);
    for (const c of ['\u0000', '\u007f', '\u0085', '\u061c', '\u200f', '\u2029', '\u202a', '\u2066', '\u2069']) {
      assert.doesNotMatch(oneLine(`a${c}b`), RAW, JSON.stringify(c));
    }
    assert.equal(oneLine('plain text, ünïcode — and a \\ backslash'), 'plain text, ünïcode — and a \\ backslash');
  });

  it('prints each argument as exactly one line', () => {
    const out = captured(() => print(HOSTILE, FORGED));
    assert.equal(out, `${oneLine(HOSTILE)}\n${oneLine(FORGED)}\n`);
    assert.equal(out.split('\n').length, 3);
    assert.doesNotMatch(out.replace(/\n/g, ''), RAW);
    // An error's line (a server's or a validator's words) likewise, on stderr.
    assert.equal(captured(() => printError(`opsflow: refused: ${FORGED}`), process.stderr).split('\n').length, 2);
  });

  it('prints JSON with every control character escaped', () => {
    const out = captured(() => printJson({ reason: HOSTILE }));
    assert.doesNotMatch(out.slice(0, -1), RAW);
    assert.deepEqual(JSON.parse(out), { reason: HOSTILE });
  });

  it('prints a deploy status whose timeline, approvals and controls carry newlines and escapes as its lines alone', () => {
    const status: DeployStatus = {
      deployId: 'deploy-hello-1.1.0-production',
      service: 'hello',
      version: '1.1.0',
      feature: 'f',
      requestedBy: `mallory${FORGED}`,
      phase: 'PAUSED',
      environment: 'production',
      startedAt: AT,
      previousVersions: {},
      paused: {
        environment: 'production',
        cause: 'manual',
        by: `bob\r${FORGED}`,
        reason: `look\u001b[2J${FORGED}`,
        since: AT,
        deadline: AT,
        resumePhase: 'CANARY',
      },
      approvals: [
        { environment: 'staging', decision: 'approved', by: `carol${FORGED}`, at: AT, via: 'signal' },
        { environment: 'production', decision: 'rejected', by: 'dave', at: AT, via: 'update', comment: FORGED },
      ],
      controls: [
        { action: 'pause', by: `erin\u202e${FORGED}`, at: AT, via: 'signal', phase: 'CANARY', reason: FORGED },
      ],
      rollback: {
        environment: 'production',
        reason: `rolled${FORGED}`,
        startedAt: AT,
        steps: [{ step: 'traffic-to-zero', at: AT, ok: false, detail: `server said${FORGED}\u009b2J` }],
      },
      reason: `because\u2028${FORGED}`,
      samples: [],
      timeline: [
        { at: AT, phase: 'AWAITING_APPROVAL', environment: 'production', message: `ignored a signal from ${FORGED}` },
        { at: AT, phase: 'CANARY', environment: `prod${FORGED}`, message: 'step 1/4' },
        { at: AT, phase: 'PAUSED', message: `\u001b]0;title\u0007paused${FORGED}` },
      ],
    };
    const lines = formatStatus(status);
    // Header 2, environment 1, pause 3, approvals 2, control 1, rollback 2, reason 1, "timeline:" 1, its entries 3.
    assert.equal(lines.length, 16);
    const out = captured(() => print(...lines));
    const printed = out.split('\n');
    assert.equal(printed.pop(), '');
    assert.equal(printed.length, 16, out);
    assert.doesNotMatch(out.replace(/\n/g, ''), RAW);
    assert.ok(!printed.some((l) => /^\s*12:00:09 AWAITING_APPROVAL/.test(l)), out);
    assert.ok(
      printed.every((l, i) => i === 0 || l.startsWith('  ')),
      out,
    );
    assert.match(printed[1]!, /requested by mallory\\n {4}12:00:09 AWAITING_APPROVAL production {2}approved by alice/);
    assert.match(out, /approved staging by carol\\n/);
    assert.match(out, /pause by erin\\u202e\\n/);
  });

  it('prints where a deploy is frozen and what became of its notifications, failures named', () => {
    const status: DeployStatus = {
      deployId: 'deploy-hello-1.2.0-production',
      service: 'hello',
      version: '1.2.0',
      feature: 'f',
      requestedBy: 'carol',
      phase: 'FROZEN',
      environment: 'production',
      startedAt: AT,
      previousVersions: {},
      approvals: [],
      controls: [],
      samples: [],
      timeline: [],
      frozen: { environment: 'production', freeze: 'holiday', until: AT, breakGlass: 2, overriddenBy: ['alice'] },
      notifications: [
        {
          event: 'approval.requested',
          eventId: 'e/1',
          at: AT,
          deliveries: [{ channel: 'team', ok: true, detail: 'posted' }],
        },
        {
          event: 'freeze.waiting',
          eventId: 'e/2',
          at: AT,
          deliveries: [{ channel: 'oncall', ok: false, detail: `gave up after 5 attempts${FORGED}` }],
        },
      ],
    };
    const out = captured(() => print(...formatStatus(status)));
    assert.match(out, /^ {2}frozen: production by "holiday" until .*; break-glass overrides 1 of 2 \(alice\)$/m);
    assert.match(out, /^ {2}notifications: 2 events, 1 delivered, 1 failed$/m);
    assert.match(out, /^ {4}not delivered: oncall \(freeze\.waiting\): gave up after 5 attempts\\n/m);
    assert.doesNotMatch(out.replace(/\n/g, ''), RAW);
  });

  it('prints the agent status with names, reasons, events and improvements as its lines alone', () => {
    const figures = deriveFigures(emptyFigures());
    const status: AgentStatus = {
      project: 'shop',
      workflowId: 'ops-agent-shop',
      state: 'stopping',
      startedAt: AT,
      continuedAsNew: 0,
      lastActivityAt: AT,
      idleDeadline: AT,
      nextReview: AT,
      stop: { by: `frank${FORGED}`, reason: `done\u001b[2J${FORGED}`, at: AT },
      running: [
        {
          deployId: 'deploy-hello-1.1.0-production',
          runId: 'r',
          service: 'hello',
          version: '1.1.0',
          requestedBy: `gina${FORGED}`,
          requestedAt: AT,
        },
      ],
      recentDeploys: [],
      recentEvents: [
        {
          id: 1,
          at: AT,
          type: 'alert',
          severity: 'warning',
          message: `disk${FORGED}`,
          actions: [`noted${FORGED}`],
        },
      ],
      figures: { total: figures, sinceLastReview: figures, deploysPerDay: 0 },
      improvements: [{ key: 'k', openedAt: AT, text: `fix it${FORGED}` }],
      reviews: { count: 0 },
      artifacts: [],
      freezes: [
        {
          id: 'incident-1',
          environment: 'production',
          reason: `db down${FORGED}`,
          raisedBy: `ops${FORGED}`,
          raisedAt: AT,
          source: 'event',
          key: 'db',
        },
      ],
      endedFreezes: [],
    };
    const lines = formatAgentStatus(status);
    // Five figures lines, stop 1, running 2, recent deploys 1, recent events 2, frozen 2, improvements 2.
    assert.equal(lines.length, 15);
    assert.ok(lines.includes(`    incident-1: production since ${AT} by ops${FORGED} (incident db): db down${FORGED}`));
    const out = captured(() => print(...lines));
    assert.equal(out.split('\n').length, 16, out);
    assert.doesNotMatch(out.replace(/\n/g, ''), RAW);
    assert.ok(!out.split('\n').some((l) => /^\s*12:00:09/.test(l)), out);
  });
});
