/** A link to a workflow (and run) in the Temporal UI. Workflow-safe: deploys and the agent put it in their events. */
export function uiLink(base: string, namespace: string, workflowId: string, runId?: string): string {
  const path = `${base.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${path}/${runId}/history` : path;
}
