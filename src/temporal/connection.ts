import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/** Where to reach Temporal: Temporal's own environment configuration, defaulting to the local dev server. */
export interface TemporalTarget {
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

/** A client, or a one-line error that names the address that was tried. */
export async function connectClient(target = temporalTarget()): Promise<{ client: Client; connection: Connection }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...target.connectionOptions, connectTimeout: '5s' } as never);
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${target.address} (${(err as Error).message.split('\n')[0]}): start it with "npm start" or set TEMPORAL_ADDRESS`,
    );
  }
  return { client: new Client({ connection, namespace: target.namespace }), connection };
}
