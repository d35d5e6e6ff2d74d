import { condition, log, setHandler } from '@temporalio/workflow';
import { stopArgsSchema, type StopArgs } from '../../shared/agent';
import { reviewNowUpdate, stopSignal, stopUpdate } from '../../shared/agent/messages';
import { nameSchema } from '../../shared/validation';
import { now, parseOrRefuse, undecodableSignal, type AgentRuntime } from './runtime';

/** What an orchestrator or a person asks of the agent: stop (Update and Signal), and the self-review now. */
export function registerOperatorHandlers(rt: AgentRuntime): void {
  const { state } = rt;
  const requestStop = (args: StopArgs) => {
    state.stop = { ...args, at: now() };
    rt.wake = true;
    log.info('termination requested', { by: args.by, reason: args.reason });
    rt.describe();
  };
  setHandler(
    stopUpdate,
    (args) => {
      requestStop(parseOrRefuse(stopArgsSchema, args));
      return rt.status();
    },
    {
      validator: (args) => {
        parseOrRefuse(stopArgsSchema, args);
        if (state.stop) throw new Error(`already stopping since ${state.stop.at} (requested by ${state.stop.by})`);
      },
    },
  );
  setHandler(stopSignal, (args) => {
    if (undecodableSignal('stop', args)) return;
    const checked = stopArgsSchema.safeParse(args);
    if (checked.success && !state.stop) requestStop(checked.data);
    else log.warn('ignored stop signal', { already: Boolean(state.stop) });
  });

  setHandler(
    reviewNowUpdate,
    async (args) => {
      log.info('self-review requested', { by: args.by });
      const before = state.reviews.count;
      rt.reviewRequested = true;
      rt.wake = true;
      await condition(() => state.reviews.count > before || !rt.reviewRequested);
      return state.reviews.last;
    },
    {
      validator: (args) => {
        parseOrRefuse(nameSchema, args?.by);
        if (rt.ending) throw new Error('the agent is ending');
      },
    },
  );
}
