import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes that make deploys findable in the Temporal UI and with `temporal workflow list`. */
export const SERVICE_ATTRIBUTE = defineSearchAttributeKey('OpsflowService', SearchAttributeType.KEYWORD);
export const ENVIRONMENT_ATTRIBUTE = defineSearchAttributeKey('OpsflowEnvironment', SearchAttributeType.KEYWORD_LIST);
export const PHASE_ATTRIBUTE = defineSearchAttributeKey('OpsflowPhase', SearchAttributeType.KEYWORD);

export const OPSFLOW_SEARCH_ATTRIBUTES = [SERVICE_ATTRIBUTE, ENVIRONMENT_ATTRIBUTE, PHASE_ATTRIBUTE];
