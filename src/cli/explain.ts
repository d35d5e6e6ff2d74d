import { status, type ServiceError as GrpcServiceError } from '@grpc/grpc-js';
import {
  CancelledFailure,
  isGrpcServiceError,
  NamespaceNotFoundError,
  QueryNotRegisteredError,
  QueryRejectedError,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { LlmError } from '../activities/llm/errors';
import { RequestError } from '../config/deploy-request';
import { ConfigError } from '../config/load';
import { agentWorkflowId } from '../shared/agent/config';
import { applicationFailure, ErrorType, type ErrorTypeName } from '../shared/errors';
import { CliError } from './output';

/**
 * What a command was addressing, so that one explainer words its lines for a deploy, an agent or nothing in
 * particular. Every field has a neutral default.
 */
export interface ExplainContext {
  /** The workflow as lines name it: "deploy deploy-hello-1.1.0-production", "the ops agent of shop". */
  subject?: string;
  /** The line for a workflow that does not exist, or has ended and so takes no Update. */
  notFound?: string;
  /** The line for a workflow of another kind: it does not know the Query the command sent. */
  wrongKind?: string;
  /** Who refused, before a validator's refusal: "refused" unless the command says more. */
  refusedBy?: string;
}

/** The context of a command that addresses one deploy. */
export function forDeploy(workflowId: string): ExplainContext {
  return {
    subject: `deploy ${workflowId}`,
    notFound: `no deploy with id ${workflowId}; see "opsflow deploy list"`,
    wrongKind: `${workflowId} is not a deploy; see "opsflow deploy list"`,
  };
}

/** The context of a command that addresses a project's ops agent. */
export function forAgent(project: string): ExplainContext {
  return {
    subject: `the ops agent of ${project}`,
    notFound: `no ops agent runs for ${project}; it starts with the next "opsflow deploy start" or "opsflow agent event"`,
    wrongKind: `${agentWorkflowId(project)} is not an ops agent; see "opsflow agent list"`,
  };
}

/** What to do about a failure of each of opsflow's own types, when one reaches the CLI. */
const FAILURE_HINTS: ReadonlyMap<string, string> = new Map<ErrorTypeName, string>([
  [ErrorType.UnknownRelease, 'list the release under the service in opsflow.yaml, or build it first'],
  [ErrorType.TargetConflict, 'another deploy holds the environment; see "opsflow deploy list"'],
  [ErrorType.StableUnhealthy, 'the stable version is unhealthy after the rollback: look at it now'],
  [ErrorType.LlmUnavailable, '"opsflow llm check" says why'],
]);

/** The first line of a message: gRPC and SDK messages can run to several. */
function firstLine(message: string): string {
  return message.split('\n')[0]?.trim() ?? '';
}

/** The gRPC status error in an error's cause chain (the SDK wraps some in its own ServiceError). */
export function grpcError(err: unknown): GrpcServiceError | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e)) return e;
  }
  return undefined;
}

/** Errors a person caused and fixes; their messages are already the line to print. */
export function isPersonError(err: unknown): err is CliError | ConfigError | RequestError | LlmError {
  return (
    err instanceof CliError || err instanceof ConfigError || err instanceof RequestError || err instanceof LlmError
  );
}

/** How a workflow that the command waited on ended, from the failure the SDK put in the WorkflowFailedError. */
function ended(err: WorkflowFailedError, subject: string): string {
  const cause = err.cause;
  if (cause instanceof TerminatedFailure) return `${subject} was terminated: ${firstLine(cause.message)}`;
  if (cause instanceof CancelledFailure) return `${subject} was cancelled`;
  if (cause instanceof TimeoutFailure) return `${subject} timed out`;
  const app = applicationFailure(cause);
  if (app?.type === ErrorType.InvalidInput) return `${subject} refused its input: ${firstLine(app.message)}`;
  return `${subject} failed: ${firstLine(app?.message ?? cause?.message ?? err.message)}`;
}

/** A gRPC status as a line: what Temporal said, and what to do about it. */
function grpcLine(err: GrpcServiceError, context: ExplainContext, subject: string): string {
  const details = firstLine(err.details || err.message);
  switch (err.code) {
    case status.NOT_FOUND:
      return context.notFound ?? `not found: ${details}`;
    case status.ALREADY_EXISTS:
      return `${subject} already exists: ${details}`;
    case status.INVALID_ARGUMENT:
      return `Temporal refused the request: ${details}`;
    case status.UNAVAILABLE:
      return `Temporal is unavailable (${details}): start it with "npm start" or set TEMPORAL_ADDRESS`;
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return `Temporal refused the credentials (${details}): set TEMPORAL_API_KEY, or the TLS settings of TEMPORAL_PROFILE`;
    case status.DEADLINE_EXCEEDED:
      return `Temporal did not answer in time (${details}); try again`;
    default:
      return `Temporal answered ${status[err.code] ?? err.code}: ${details}`;
  }
}

/**
 * Turns any error into the one line a person reads, by its class, its gRPC status code or its failure type;
 * never by its message text, which is only printed. Returns a CliError whose cause is the original error.
 */
export function explain(err: unknown, context: ExplainContext = {}): CliError {
  if (err instanceof CliError) return err;
  const line = (message: string) => new CliError(message, { cause: err });
  if (isPersonError(err)) return line(err.message);
  const subject = context.subject ?? 'the workflow';

  if (err instanceof WorkflowNotFoundError) {
    return line(context.notFound ?? `no workflow ${err.workflowId} runs`);
  }
  if (err instanceof WorkflowUpdateFailedError) {
    // The validator's refusal reaches the client as the failure's message: printed, never parsed.
    return line(`${context.refusedBy ?? 'refused'}: ${firstLine(err.cause?.message ?? err.message)}`);
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return line(`${subject} did not answer in time: is a worker running? start one with "npm run worker"`);
  }
  if (err instanceof WorkflowFailedError) return line(ended(err, subject));
  if (err instanceof QueryNotRegisteredError) return line(context.wrongKind ?? `${subject} does not answer this query`);
  if (err instanceof QueryRejectedError) return line(`${subject} did not answer: it is no longer running`);
  if (err instanceof WorkflowExecutionAlreadyStartedError) return line(`${err.workflowId} is already running`);
  if (err instanceof NamespaceNotFoundError) {
    return line(`namespace "${err.namespace}" does not exist: set TEMPORAL_NAMESPACE to one that does`);
  }

  const grpc = grpcError(err);
  if (grpc) return line(grpcLine(grpc, context, subject));

  const app = applicationFailure(err);
  if (app) {
    const hint = app.type ? FAILURE_HINTS.get(app.type) : undefined;
    return line(`${firstLine(app.message)}${hint ? `: ${hint}` : ''}`);
  }
  return line(firstLine(err instanceof Error ? err.message : String(err)) || String(err));
}
