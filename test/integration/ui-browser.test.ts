import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { Stack, waitFor } from '../helpers/stack';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
// Outside CI a missing browser skips the test and says how to get it; under CI=true it must run.
const skip =
  !available && process.env['CI'] !== 'true' ? `needs Chromium at ${CHROMIUM}: apt-get install chromium` : false;

let stack: Stack;
let browser: BrowserContext;
let profile: string;

describe('the Temporal UI shows a deploy and its approval', { skip }, () => {
  before(async () => {
    stack = await Stack.start({ ui: true });
    profile = mkdtempSync(path.join(os.tmpdir(), 'opsflow-chromium-'));
    // A fresh profile every run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('finds the deploy by service and sees who approved it in its history', async () => {
    const started = await stack.cli('deploy', 'start', '--service', 'hello', '--version', '1.1.0', '--json');
    assert.equal(started.code, 0, started.stderr);
    const { workflowId, runId } = JSON.parse(started.stdout) as { workflowId: string; runId: string };
    await waitFor(async () => (await stack.status(workflowId)).phase === 'AWAITING_APPROVAL', 60_000);
    const approved = await stack.cli(
      'deploy',
      'approve',
      workflowId,
      '--by',
      'alice',
      '--comment',
      'ship it from the UI test',
    );
    assert.equal(approved.code, 0, approved.stderr);
    // A finished history: while the deploy runs, the UI re-renders the history on every poll.
    const watched = await stack.cli('deploy', 'watch', workflowId);
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);

    const ui = stack.server.uiUrl;
    assert.ok(ui, 'the dev server serves its UI');
    const page = await browser.newPage();
    try {
      // Findable by service: the list filtered on the OpsflowService search attribute shows the deploy.
      const query = encodeURIComponent(`OpsflowService="hello"`);
      await page.goto(`${ui}/namespaces/default/workflows?query=${query}`);
      await page.getByText(workflowId).first().waitFor({ timeout: 30_000 });

      // Its history shows the approval Update: who and the comment.
      await page.goto(`${ui}/namespaces/default/workflows/${workflowId}/${runId}/history`);
      await page.setViewportSize({ width: 1400, height: 3000 });
      // Oldest first: a whole deploy's history is longer than the first page, and the approval comes early in it.
      await page.getByRole('button', { name: /Descending/ }).click();
      // The accepted Update carries its name; the completed one, once opened, the approval record.
      await page.getByText('Workflow Execution Update Accepted').first().waitFor({ timeout: 30_000 });
      await page.getByText('Workflow Execution Update Completed').first().click();
      await waitFor(async () => {
        const text = await page.locator('body').innerText();
        return text.includes('alice') && text.includes('ship it from the UI test');
      }, 30_000);
      await page.screenshot({ path: path.join(stack.workdir, 'ui-history.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });
});
