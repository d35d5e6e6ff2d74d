import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metadata, status, type ServiceError as GrpcServiceError } from '@grpc/grpc-js';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  NamespaceNotFoundError,
  QueryNotRegisteredError,
  ServiceError,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { RetryState, TimeoutType } from '@temporalio/common';
import { LlmError } from '../../src/activities/llm/errors';
import { explain, forAgent, forDeploy } from '../../src/cli/explain';
import { CliError } from '../../src/cli/output';
import { RequestError } from '../../src/config/deploy-request';
import { ConfigError } from '../../src/config/load';
import { ErrorType } from '../../src/shared/errors';

const ID = 'deploy-hello-1.1.0-production';
const NO_DEPLOY = `no deploy with id ${ID}; see "opsflow deploy list"`;

/** A gRPC status error as @grpc/grpc-js builds one for a failed call (callErrorFromStatus). */
function grpcStatus(code: status, details: string): GrpcServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

/** The line the explainer prints. */
const line = (err: unknown, context = forDeploy(ID)) => explain(err, context).message;

describe('the CLI explainer', () => {
  it('says which deploy or agent does not exist, by the error class', () => {
    const notFound = new WorkflowNotFoundError('workflow execution already completed', ID, undefined);
    assert.equal(line(notFound), NO_DEPLOY);
    assert.equal(
      line(new WorkflowNotFoundError('workflow not found', 'ops-agent-shop', undefined), forAgent('shop')),
      'no ops agent runs for shop; it starts with the next "opsflow deploy start" or "opsflow agent event"',
    );
    assert.equal(line(grpcStatus(status.NOT_FOUND, 'workflow not found')), NO_DEPLOY, 'a raw gRPC NOT_FOUND too');
  });

  it("prints a validator's refusal, which reaches the client as the failure's message", () => {
    const refusal = ApplicationFailure.create({
      message: 'mallory is not an approver for production; approvers: alice, bob',
      type: 'Error',
    });
    const err = new WorkflowUpdateFailedError('Workflow Update failed', refusal);
    assert.equal(line(err), 'refused: mallory is not an approver for production; approvers: alice, bob');
    assert.equal(
      line(err, { ...forAgent('shop'), refusedBy: 'the ops agent refused' }),
      'the ops agent refused: mallory is not an approver for production; approvers: alice, bob',
    );
  });

  it('says how a workflow it waited on ended: failed with a type, terminated, cancelled, timed out', () => {
    const agent = forAgent('shop');
    const failed = (cause: Error) =>
      new WorkflowFailedError('Workflow execution failed', cause, RetryState.NON_RETRYABLE_FAILURE);
    assert.equal(
      line(
        failed(ApplicationFailure.nonRetryable('invalid agent input: project: required', ErrorType.InvalidInput)),
        agent,
      ),
      'the ops agent of shop refused its input: invalid agent input: project: required',
    );
    assert.equal(
      line(failed(ApplicationFailure.nonRetryable('deploy failed: staging unhealthy', ErrorType.DeployFailed))),
      `deploy ${ID} failed: deploy failed: staging unhealthy`,
    );
    assert.equal(
      line(failed(new TerminatedFailure('stuck since Monday')), agent),
      'the ops agent of shop was terminated: stuck since Monday',
    );
    assert.equal(line(failed(new CancelledFailure('Workflow canceled')), agent), 'the ops agent of shop was cancelled');
    assert.equal(
      line(failed(new TimeoutFailure('Workflow execution timed out', undefined, TimeoutType.START_TO_CLOSE)), agent),
      'the ops agent of shop timed out',
    );
  });

  it('says a workflow of another kind is not a deploy or not an agent', () => {
    const err = new QueryNotRegisteredError('Workflow did not register a handler for status', status.INVALID_ARGUMENT);
    assert.equal(line(err), `${ID} is not a deploy; see "opsflow deploy list"`);
    assert.equal(line(err, forAgent('shop')), 'ops-agent-shop is not an ops agent; see "opsflow agent list"');
  });

  it('reads gRPC status codes, also inside the SDK ServiceError', () => {
    const unknownAttribute = new ServiceError('Failed to start Workflow', {
      cause: grpcStatus(status.INVALID_ARGUMENT, 'search attribute OpsflowService is not defined'),
    });
    assert.equal(
      line(unknownAttribute),
      'Temporal refused the request: search attribute OpsflowService is not defined',
    );
    assert.equal(
      line(grpcStatus(status.ALREADY_EXISTS, 'workflow execution already started')),
      `deploy ${ID} already exists: workflow execution already started`,
    );
    assert.match(
      line(grpcStatus(status.UNAVAILABLE, 'connection refused')),
      /^Temporal is unavailable \(connection refused\): start it with "npm start" or set TEMPORAL_ADDRESS$/,
    );
    assert.match(
      line(grpcStatus(status.PERMISSION_DENIED, 'bad key')),
      /^Temporal refused the credentials \(bad key\): set TEMPORAL_API_KEY/,
    );
    assert.equal(line(grpcStatus(status.INTERNAL, 'boom')), 'Temporal answered INTERNAL: boom');
  });

  it('explains the other SDK errors a command can meet', () => {
    assert.equal(
      line(new NamespaceNotFoundError('ops')),
      'namespace "ops" does not exist: set TEMPORAL_NAMESPACE to one that does',
    );
    assert.equal(
      line(new WorkflowExecutionAlreadyStartedError('Workflow execution already started', ID, 'deploy')),
      `${ID} is already running`,
    );
    assert.match(
      line(new WorkflowUpdateRPCTimeoutOrCancelledError('Workflow update call timeout or cancelled')),
      new RegExp(`^deploy ${ID} did not answer in time: is a worker running\\?`),
    );
  });

  it("names opsflow's own failure types with what to do, through an activity's wrapper too", () => {
    const unknown = ApplicationFailure.nonRetryable(
      'hello has no release 9.9.9; known: 1.0.0',
      ErrorType.UnknownRelease,
    );
    assert.equal(
      line(unknown),
      'hello has no release 9.9.9; known: 1.0.0: list the release under the service in opsflow.yaml, or build it first',
    );
    const conflict = new ActivityFailure(
      'Activity task failed',
      'setWeight',
      '3',
      RetryState.NON_RETRYABLE_FAILURE,
      'worker',
      ApplicationFailure.nonRetryable('deploy-a holds the canary of production', ErrorType.TargetConflict),
    );
    assert.equal(
      line(conflict),
      'deploy-a holds the canary of production: another deploy holds the environment; see "opsflow deploy list"',
    );
  });

  it("prints a person's error as it is, and keeps the original as the cause", () => {
    const cli = new CliError('--project: must be letters');
    assert.equal(explain(cli), cli);
    for (const err of [
      new ConfigError('opsflow.yaml: no such file'),
      new RequestError('--version: must be a semantic version'),
      new LlmError('auth', 'set a valid OPENAI_API_KEY'),
    ]) {
      const explained = explain(err, forDeploy(ID));
      assert.equal(explained.message, err.message);
      assert.equal(explained.cause, err);
    }
  });

  it('never reads message text: "not found" or "rejected" in a message is only printed', () => {
    // The regex era printed "no deploy with id ..." for any message containing "not found".
    assert.equal(line(new Error('template not found in cache')), 'template not found in cache');
    assert.notEqual(
      line(new Error('Update rejected: validation failed')),
      'refused: Update rejected: validation failed',
    );
    assert.equal(
      line(
        new ServiceError('Failed to query Workflow', {
          cause: grpcStatus(status.INTERNAL, 'history branch not found'),
        }),
      ),
      'Temporal answered INTERNAL: history branch not found',
    );
    assert.equal(line(new Error('first line\n    at stack')), 'first line', 'one line');
    assert.equal(line('a thrown string'), 'a thrown string');
  });
});
