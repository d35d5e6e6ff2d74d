import type { ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/** Where to reach Temporal: Temporal's own environment configuration, defaulting to the local dev server. */
export interface TemporalTarget {
  /** As envconfig gives them: the worker's NativeConnection takes them as they are. */
  connectionOptions: NativeConnectionOptions;
  namespace: string;
  address: string;
}

/**
 * Reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and profiles
 * (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE) the way every Temporal tool does.
 */
export function temporalTarget(): TemporalTarget {
  const profile = process.env['TEMPORAL_PROFILE'];
  const { connectionOptions, namespace } = loadClientConnectConfig(profile ? { profile } : {});
  const address = connectionOptions.address ?? 'localhost:7233';
  return { connectionOptions: { ...connectionOptions, address }, namespace: namespace ?? 'default', address };
}

/**
 * The target's options for a client `Connection` (CLI, operator calls). envconfig fills exactly these four fields
 * of its NativeConnectionOptions; the native-only ones (proxy, DNS load balancing, compression) have no client
 * equivalent, so they are named here rather than spread across.
 */
export function clientConnectionOptions(target: TemporalTarget): ConnectionOptions {
  const { tls, metadata, apiKey } = target.connectionOptions;
  return {
    address: target.address,
    ...(tls !== undefined ? { tls } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
  };
}

/**
 * The Temporal UI to link to: `temporal.uiUrl` when it is set; unset, http://localhost:8233 (where `npm start` and
 * `temporal server start-dev` serve it by default) when Temporal runs on this machine, its address a loopback one;
 * otherwise none, since a cluster's UI lives at an address only its team knows.
 */
export function temporalUiUrl(configured: string | undefined, address: string): string | undefined {
  if (configured) return configured;
  return /^(localhost|127(?:\.\d{1,3}){3}|\[::1\]):\d+$/.test(address) ? 'http://localhost:8233' : undefined;
}
