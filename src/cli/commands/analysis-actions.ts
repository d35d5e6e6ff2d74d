// What `opsflow analysis replay` does, loaded when it runs.
import { recordedDeployOf, renderReplay, replay, withAnalysis, isEmptyDiff } from '../../analysis/replay';
import { loadConfig } from '../../config/load';
import { decodeHistoryPayloads } from '../../temporal/codec';
import { deployHandle, withClient } from '../client';
import { print, printJson } from '../output';

export interface ReplayOptions {
  config?: string;
  json?: boolean;
}

/**
 * Reads the deploy's history (decoded with the CLI's codec, if any), re-judges its measurements and prints where the
 * verdicts differ; answers the exit code: 1 when the deploy's own settings do not reproduce its record.
 */
export async function replayAnalysis(workflowId: string, opts: ReplayOptions): Promise<number> {
  // The other configuration is read first: a mistake in it is reported before anything is fetched.
  const other = opts.config === undefined ? undefined : loadConfig(opts.config);
  return withClient(async (client) => {
    const history = await decodeHistoryPayloads(
      await deployHandle(client, workflowId).fetchHistory(),
      client.options.loadedDataConverter.payloadCodecs,
    );
    const record = recordedDeployOf(workflowId, history.events ?? []);
    const environments = other?.config.environments;
    const report = replay(
      record,
      other && environments
        ? {
            source: other.path,
            rollout: withAnalysis(record.rollout, (name) =>
              Object.hasOwn(environments, name) ? environments[name]?.analysis : undefined,
            ),
          }
        : undefined,
    );
    if (opts.json) printJson(report);
    else renderReplay(report).forEach((line) => print(line));
    return isEmptyDiff(report.reproduction) ? 0 : 1;
  });
}
