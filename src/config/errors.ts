/** A problem a person fixes in their configuration; the message is one line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
