import net from 'node:net';
import { formatOpenSshPublicKey, parseOpenSshPublicKey } from '../shared/signing';

/**
 * A client of ssh-agent (the protocol of draft-miller-ssh-agent, as OpenSSH speaks it on $SSH_AUTH_SOCK): lists the
 * keys it holds and asks it to sign. For an ed25519 key the agent's signature is the plain ed25519 signature over the
 * data, so what it signs verifies in the workflow like a signature made from a key file. The private key never leaves
 * the agent.
 */

const AGENT_FAILURE = 5;
const REQUEST_IDENTITIES = 11;
const IDENTITIES_ANSWER = 12;
const SIGN_REQUEST = 13;
const SIGN_RESPONSE = 14;

/** The agent is slow only when it asks the person to confirm (ssh-add -c): leave them time, not forever. */
const ANSWER_TIMEOUT_MS = 60_000;
/** Messages above this size are not the agent's answer to us. */
const MAX_MESSAGE = 256 * 1024;

/** A key the agent holds. */
export interface AgentKey {
  /** The OpenSSH public key line, without comment. */
  publicKey: string;
  comment: string;
}

/** Something ssh-agent could not do; the message is one line. */
export class AgentError extends Error {
  override name = 'AgentError';
}

/** The ssh-agent listening on a Unix socket (default: $SSH_AUTH_SOCK). */
export class SshAgent {
  constructor(readonly socketPath: string) {}

  /** The agent of this process's environment, when SSH_AUTH_SOCK names one. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SshAgent | undefined {
    const socket = env['SSH_AUTH_SOCK'];
    return socket ? new SshAgent(socket) : undefined;
  }

  /** The ed25519 keys the agent holds (others cannot sign for opsflow). */
  async ed25519Keys(): Promise<AgentKey[]> {
    const answer = await this.request(REQUEST_IDENTITIES, Buffer.alloc(0));
    if (answer.type !== IDENTITIES_ANSWER)
      throw new AgentError(`ssh-agent at ${this.socketPath} would not list its keys`);
    const reader = new Reader(answer.body);
    const count = reader.uint32();
    const keys: AgentKey[] = [];
    for (let i = 0; i < count; i++) {
      const blob = reader.string();
      const comment = reader.string().toString('utf8');
      const type = new Reader(blob).string().toString('latin1');
      if (type !== 'ssh-ed25519') continue;
      keys.push({ publicKey: `ssh-ed25519 ${blob.toString('base64')}`, comment });
    }
    return keys;
  }

  /** The agent's ed25519 signature of `data` with the key of `publicKey` (an OpenSSH public key line). */
  async sign(publicKey: string, data: Uint8Array): Promise<Uint8Array> {
    const blob = Buffer.from(formatOpenSshPublicKey(parseOpenSshPublicKey(publicKey)).split(' ')[1] ?? '', 'base64');
    const payload = Buffer.concat([sshString(blob), sshString(Buffer.from(data)), uint32(0)]);
    const answer = await this.request(SIGN_REQUEST, payload);
    if (answer.type === AGENT_FAILURE) {
      throw new AgentError(
        `ssh-agent at ${this.socketPath} refused to sign (is the key added, and confirmed if asked?)`,
      );
    }
    if (answer.type !== SIGN_RESPONSE) throw new AgentError(`ssh-agent at ${this.socketPath} answered ${answer.type}`);
    const signature = new Reader(new Reader(answer.body).string());
    const type = signature.string().toString('latin1');
    const bytes = signature.string();
    if (type !== 'ssh-ed25519' || bytes.length !== 64) {
      throw new AgentError(`ssh-agent at ${this.socketPath} answered a ${type} signature, not an ed25519 one`);
    }
    return new Uint8Array(bytes);
  }

  /** One request on its own connection: the agent answers each message with exactly one. */
  private request(type: number, payload: Buffer): Promise<{ type: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(this.socketPath);
      let received = Buffer.alloc(0);
      const fail = (message: string) => {
        socket.destroy();
        reject(new AgentError(message));
      };
      socket.setTimeout(ANSWER_TIMEOUT_MS, () => fail(`ssh-agent at ${this.socketPath} did not answer`));
      socket.on('error', (err: NodeJS.ErrnoException) =>
        fail(`cannot reach ssh-agent at ${this.socketPath} (SSH_AUTH_SOCK): ${err.code ?? err.message}`),
      );
      socket.on('connect', () => {
        const message = Buffer.concat([Buffer.from([type]), payload]);
        socket.write(Buffer.concat([uint32(message.length), message]));
      });
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 4) return;
        const length = received.readUInt32BE(0);
        if (length < 1 || length > MAX_MESSAGE) return fail(`ssh-agent at ${this.socketPath} sent a malformed answer`);
        if (received.length < 4 + length) return;
        socket.end();
        resolve({ type: received[4] ?? 0, body: received.subarray(5, 4 + length) });
      });
      socket.on('end', () => {
        if (received.length < 4 || received.length < 4 + received.readUInt32BE(0)) {
          fail(`ssh-agent at ${this.socketPath} closed the connection without an answer`);
        }
      });
    });
  }
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function sshString(data: Buffer): Buffer {
  return Buffer.concat([uint32(data.length), data]);
}

/** Reads the SSH wire encoding: uint32 and length-prefixed strings. */
class Reader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}

  uint32(): number {
    if (this.at + 4 > this.bytes.length) throw new AgentError('ssh-agent sent a truncated answer');
    const value = this.bytes.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }

  string(): Buffer {
    const length = this.uint32();
    if (this.at + length > this.bytes.length) throw new AgentError('ssh-agent sent a truncated answer');
    const value = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
}
