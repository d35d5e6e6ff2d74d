// The workflow code the tests run, bundled once: a worker of a test file, and each replay, would otherwise bundle
// src/workflows again (about 6 s of webpack on this machine, a dozen times per `npm test`).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundleOption } from '@temporalio/worker';
import { PAYLOAD_CONVERTER_PATH } from '../../src/temporal/codec';

const ROOT = path.join(__dirname, '..', '..');
/** What `npm run build` writes: src/workflows with the worker's payload converter, as the compiled worker runs it. */
const BUILT = path.join(ROOT, 'dist', 'workflow-bundle.js');

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the build script is plain CommonJS
const { workflowBundleStaleReason } = require('../../scripts/build.js') as {
  workflowBundleStaleReason: () => string | undefined;
};

let bundle: Promise<WorkflowBundleOption> | undefined;

/**
 * The bundle `npm run build` wrote when it is as new as src/ (the build stage of `npm test` runs before the tests),
 * else src/workflows bundled here, once per test file. Either way the worker's payload converter is bundled in: pass
 * {@link WORKFLOW_DATA_CONVERTER} with it.
 */
export function testWorkflowBundle(): Promise<WorkflowBundleOption> {
  bundle ??= (async () => {
    if (existsSync(BUILT) && !workflowBundleStaleReason()) return { codePath: BUILT };
    return bundleWorkflowCode({
      workflowsPath: require.resolve('../../src/workflows'),
      payloadConverterPath: PAYLOAD_CONVERTER_PATH,
      logger: new DefaultLogger('WARN'),
    });
  })();
  return bundle;
}

/** The data converter a worker or replay of {@link testWorkflowBundle} needs: the same payload converter. */
export const WORKFLOW_DATA_CONVERTER = { payloadConverterPath: PAYLOAD_CONVERTER_PATH };
