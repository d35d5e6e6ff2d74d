/** A control-API failure with its HTTP status and a stable machine-readable code; the message is one actionable line. */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** 404: an unknown environment, service, release or route. */
export const notFound = (code: string, message: string) => new ApiError(404, code, message);

/** 409: the request is valid but conflicts with what is running; retrying will not help. */
export const conflict = (code: string, message: string) => new ApiError(409, code, message);

/** 503: a release did not come up; retrying may help (the stderr tail says why it failed). */
export const unavailable = (code: string, message: string, details?: Record<string, unknown>) =>
  new ApiError(503, code, message, details);
