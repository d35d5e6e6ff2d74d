// The one pattern of deploy ids, with no dependency: the CLI checks its arguments with it before loading anything.

/** The longest deploy id: it names folders (LLM audit files) and travels in paths and URLs. */
export const DEPLOY_ID_MAX = 200;

/** The one pattern of deploy ids, for people: what a one-line refusal names. */
export const DEPLOY_ID_PATTERN = 'deploy-<service>-<version>-<environment>';

// Each segment follows the name rules (a name, a semantic version, a name); the whole id is one safe path segment.
const NAME = '[A-Za-z0-9][A-Za-z0-9._-]{0,62}';
const VERSION = '\\d+\\.\\d+\\.\\d+(?:-[0-9A-Za-z.-]+)?(?:\\+[0-9A-Za-z.-]+)?';
const DEPLOY_ID = new RegExp(`^deploy-(${NAME})-(${VERSION})-(${NAME})$`);
const NAME_ONLY = new RegExp(`^${NAME}$`);
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Stable, readable workflow id: starting the same change twice finds the running deploy. */
export function deployWorkflowId(service: string, version: string, lastEnvironment: string): string {
  return `deploy-${service}-${version}-${lastEnvironment}`;
}

/**
 * Why a deploy id does not follow the one pattern, `deploy-<service>-<version>-<environment>` (the last segment is the
 * pipeline's last environment, or any name that makes the id unique), or undefined when it does. Given the service
 * and version, the id must name them: a deploy called after hello 1.1.0 deploys hello 1.1.0. One line; the id is
 * quoted with its control characters escaped.
 */
export function deployIdProblem(id: string, expected?: { service: string; version: string }): string | undefined {
  if (id.length === 0) return 'the deploy id is empty';
  const quoted = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id);
  if (CONTROL.test(id)) return `the deploy id ${quoted} contains control characters`;
  if (id.length > DEPLOY_ID_MAX) return `the deploy id ${quoted} is longer than ${DEPLOY_ID_MAX} characters`;
  if (id.includes('..')) return `the deploy id ${quoted} must not contain ".."`;
  if (expected) {
    const prefix = `deploy-${expected.service}-${expected.version}-`;
    const qualifier = id.startsWith(prefix) ? id.slice(prefix.length) : undefined;
    if (qualifier === undefined || !NAME_ONLY.test(qualifier)) {
      return `the deploy id ${quoted} does not name what it deploys: it must be ${prefix}<environment>`;
    }
    return undefined;
  }
  if (!DEPLOY_ID.test(id)) {
    return (
      `the deploy id ${quoted} does not follow ${DEPLOY_ID_PATTERN} (each segment letters, digits, ".", "_" or "-", ` +
      'starting with a letter or digit; the version a semantic version)'
    );
  }
  return undefined;
}
