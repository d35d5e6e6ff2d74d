// The words of an infrastructure event, with no schema library: the CLI's help names them without loading zod.

/** Infrastructure event types the agent takes (the spec's "deployment or infrastructure events"). */
export const EVENT_TYPES = ['deploy', 'incident', 'scale', 'config', 'alert'] as const;

/** How bad an infrastructure event is; a critical alert aborts its service's running deploy. */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
