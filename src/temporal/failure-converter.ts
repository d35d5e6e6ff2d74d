// The failure converter the worker and clients load by path when the payload codec is on (see codec.ts): failure
// messages and stack traces travel as a payload, which the codec encrypts, instead of in clear.
import { DefaultFailureConverter } from '@temporalio/common';

/** Read by the SDK through `DataConverter.failureConverterPath`. */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
