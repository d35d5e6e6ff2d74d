import type { ChatVia, Statement } from '../signing';
import { bridgeOf, personOf, type ChatRule, type DeployPolicy, type EnvironmentPolicy } from './policy';

/**
 * Decisions from chat. A chat bridge (`opsflow chat-bridge`) verifies the platform's request signature, maps the
 * platform user to a person of its worker's policy and signs the decision with its own key, saying so in the
 * statement's `via`. Whoever checks such a statement (the Update's validator, the activity that changes an
 * environment, `deploy verify`) checks the bridge's signature against the bridge's key in the policy, then asks this
 * module whether that bridge may speak for that person there: the bridge is listed for that platform, the platform user
 * is the person's, and the environment's `chat` rule counts it. Workflow-safe: no node: imports.
 */

/** An environment's chat rule: absent means `none`, as in policies recorded before bridges. */
export function chatRuleOf(rules: EnvironmentPolicy | undefined): ChatRule {
  return rules?.chat ?? 'none';
}

/** The public key of a chat bridge of the policy, for the signature check. */
export function bridgeKeyOf(policy: DeployPolicy | undefined): (name: string) => string | undefined {
  return (name) => bridgeOf(policy, name)?.publicKey;
}

/** A person's user id on a chat platform, as the policy maps it. */
export function chatUserOf(
  policy: DeployPolicy | undefined,
  person: string,
  platform: ChatVia['platform'],
): string | undefined {
  const entry = personOf(policy, person);
  return platform === 'slack' ? entry?.slack : undefined;
}

/**
 * Why a statement that came through a chat bridge does not count for `environment` under the policy and its rule, or
 * undefined when it does (and for a statement signed with a personal key). `chatApprovals` is how many approvals of
 * the environment already counted through chat: under `first`, one of N may, the others need personal keys. The
 * bridge's signature is checked apart (refuseStatement, refuseEvidence).
 */
export function refuseChat(
  policy: DeployPolicy | undefined,
  rules: EnvironmentPolicy | undefined,
  environment: string,
  statement: Statement,
  chatApprovals: number,
): string | undefined {
  const via = statement.via;
  if (!via) return undefined;
  const bridge = bridgeOf(policy, via.bridge);
  if (!bridge) return `the chat bridge ${via.bridge} is not in the worker's policy`;
  if (bridge.kind !== via.platform) return `the chat bridge ${via.bridge} answers ${bridge.kind}, not ${via.platform}`;
  if (chatUserOf(policy, statement.person, via.platform) !== via.user) {
    return `${via.platform} user ${via.user} is not ${statement.person}'s in the worker's policy`;
  }
  if (statement.action === 'override') {
    return "a break-glass override needs the approver's own key, not a chat bridge";
  }
  const rule = chatRuleOf(rules);
  if (rule === 'none') {
    return (
      `decisions through chat do not count in ${environment} (the worker's policy says chat: none): ` +
      `use "opsflow deploy ${statement.action}" with your own key`
    );
  }
  if (rule === 'first' && statement.action === 'approve' && chatApprovals >= 1) {
    return (
      `only one approval of ${environment} may come through chat (the worker's policy says chat: first): ` +
      `${statement.person} approves with their own key ("opsflow deploy approve")`
    );
  }
  return undefined;
}

/** How a decision that came through chat reads for people: "through slack (U012ABC)". */
export function describeChat(via: ChatVia): string {
  return `through ${via.platform} (${via.user})`;
}
