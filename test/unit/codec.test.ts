/**
 * The payload codec (AES-256-GCM with the key id in the metadata), its keys from a file or the environment, and the
 * codec server the Temporal UI calls, in-process on loopback.
 * Run: node --import tsx --test test/unit/codec.test.ts
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  decodeHistoryPayloads,
  EncryptionCodec,
  ENCRYPTED_ENCODING,
  KeylessCodec,
  KEY_ID_METADATA,
  PayloadDecryptError,
  dataConverterFromEnv,
} from '../../src/temporal/codec';
import {
  codecKeysFromEnv,
  CodecKeyError,
  generateCodecKey,
  keyLine,
  parseKeyFile,
  writeCodecKey,
  type CodecKey,
  type CodecKeyring,
} from '../../src/temporal/codec-keys';
import { startCodecServer, type CodecServer } from '../../src/temporal/codec-server';

const root = mkdtempSync(path.join(os.tmpdir(), 'opsflow-codec-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ring = (...keys: CodecKey[]): CodecKeyring => ({
  current: keys.at(-1)!,
  keys: new Map(keys.map((k) => [k.id, k.key])),
  source: 'test keys',
});
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const input = { service: 'hello', version: '1.1.0', requestedBy: 'carol', reason: 'marker-7f3a' };
const plain = (): Payload => defaultPayloadConverter.toPayload(input);

describe('EncryptionCodec', () => {
  const k1 = generateCodecKey('k1');
  const k2 = generateCodecKey('k2');

  it('round-trips a payload and hides everything of it, its encoding included', async () => {
    const codec = new EncryptionCodec(ring(k1));
    const [encrypted] = await codec.encode([plain()]);
    assert.ok(encrypted);
    assert.deepEqual(Object.keys(encrypted.metadata ?? {}).sort(), ['encoding', KEY_ID_METADATA]);
    assert.equal(text(encrypted.metadata?.['encoding']), ENCRYPTED_ENCODING);
    assert.equal(text(encrypted.metadata?.[KEY_ID_METADATA]), 'k1');
    const raw = Buffer.from(encrypted.data ?? []);
    for (const clear of ['marker-7f3a', 'carol', 'json/plain']) {
      assert.ok(!raw.includes(clear), `${clear} in clear`);
      assert.ok(!raw.toString('base64').includes(Buffer.from(clear).toString('base64')), `${clear} in base64`);
    }
    const [decoded] = await codec.decode([encrypted]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), input);
    assert.equal(text(decoded!.metadata?.['encoding']), 'json/plain');
  });

  it('encrypts the same payload differently each time (a fresh IV)', async () => {
    const codec = new EncryptionCodec(ring(k1));
    const [a, b] = await codec.encode([plain(), plain()]);
    assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
  });

  it('rotates: the newest key encrypts, the older one still decrypts what it encrypted', async () => {
    const before = await new EncryptionCodec(ring(k1)).encode([plain()]);
    const rotated = new EncryptionCodec(ring(k1, k2));
    const after = await rotated.encode([plain()]);
    assert.equal(text(after[0]!.metadata?.[KEY_ID_METADATA]), 'k2');
    const decoded = await rotated.decode([...before, ...after]);
    assert.deepEqual(
      decoded.map((p) => defaultPayloadConverter.fromPayload(p)),
      [input, input],
    );
  });

  it('refuses a payload whose key id it does not hold, in one line naming the id', async () => {
    const encrypted = await new EncryptionCodec(ring(k2)).encode([plain()]);
    await assert.rejects(new EncryptionCodec(ring(k1)).decode(encrypted), (err: Error) => {
      assert.ok(err instanceof PayloadDecryptError);
      assert.equal(
        err.message,
        'cannot decrypt a payload encrypted with key "k2": test keys has no such key (it has k1)',
      );
      return true;
    });
  });

  it('refuses altered ciphertext, an altered tag and a wrong key under the right id (GCM authentication)', async () => {
    const codec = new EncryptionCodec(ring(k1));
    const [encrypted] = await codec.encode([plain()]);
    const flip = (index: number): Payload => {
      const data = Buffer.from(encrypted!.data!);
      data[index]! ^= 1;
      return { ...encrypted!, data };
    };
    const size = encrypted!.data!.length;
    for (const altered of [flip(0), flip(20), flip(size - 1)]) {
      await assert.rejects(codec.decode([altered]), /it was altered, or the key with that id is not the one/);
    }
    const impostor = new EncryptionCodec(ring({ id: 'k1', key: k2.key }));
    await assert.rejects(impostor.decode([encrypted!]), PayloadDecryptError);
    await assert.rejects(codec.decode([{ ...encrypted!, data: Buffer.alloc(10) }]), /too short/);
    const noId: Payload = { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING) }, data: encrypted!.data! };
    await assert.rejects(codec.decode([noId]), /names no key/);
  });

  it('passes a payload that is not encrypted through, so older histories stay readable', async () => {
    const codec = new EncryptionCodec(ring(k1));
    const payload = plain();
    const [same] = await codec.decode([payload]);
    assert.equal(same, payload);
    const empty: Payload = {};
    assert.deepEqual(await codec.decode([empty]), [empty]);
  });

  it('without keys, passes plain payloads through and explains an encrypted one in one line', async () => {
    const keyless = new KeylessCodec();
    const payload = plain();
    assert.deepEqual(await keyless.decode([payload]), [payload]);
    assert.deepEqual(await keyless.encode([payload]), [payload]);
    const encrypted = await new EncryptionCodec(ring(k1)).encode([plain()]);
    await assert.rejects(keyless.decode(encrypted), {
      message:
        'the history is encrypted (key "k1") and no codec key is configured: set OPSFLOW_CODEC_KEYS_FILE ' +
        '(or OPSFLOW_CODEC_KEY) as the worker has it',
    });
  });

  it('decodes the encrypted payloads anywhere in a history, in place', async () => {
    const codec = new EncryptionCodec(ring(k1));
    const [a, b] = await codec.encode([plain(), defaultPayloadConverter.toPayload('a summary')]);
    const history = {
      events: [
        { workflowExecutionStartedEventAttributes: { input: { payloads: [a] }, userMetadata: { summary: b } } },
        { searchAttributes: { indexedFields: { OpsflowService: defaultPayloadConverter.toPayload('hello') } } },
      ],
    };
    await decodeHistoryPayloads(history, [codec]);
    const started = history.events[0]!.workflowExecutionStartedEventAttributes!;
    assert.deepEqual(defaultPayloadConverter.fromPayload(started.input.payloads[0]!), input);
    assert.equal(defaultPayloadConverter.fromPayload(started.userMetadata.summary!), 'a summary');
  });
});

describe('codec keys', () => {
  const key = generateCodecKey('one');
  const b64 = key.key.toString('base64');

  it('reads a key file: comments and blanks skipped, the last key encrypts, every key decrypts', () => {
    const k2 = generateCodecKey('two');
    const parsed = parseKeyFile(`# keys\n\n${keyLine(key)}\n  ${keyLine(k2)}  \n`, 'f');
    assert.equal(parsed.current.id, 'two');
    assert.deepEqual([...parsed.keys.keys()], ['one', 'two']);
    // URL-safe base64 without padding is the same key.
    const urlSafe = key.key.toString('base64url');
    assert.deepEqual(parseKeyFile(`one:${urlSafe}`, 'f').current.key, key.key);
  });

  it('refuses malformed key files in one line that names the line and never the key', () => {
    const cases: [string, RegExp][] = [
      ['', /^f holds no key: add one with "opsflow keys codec-init"$/],
      [`one ${b64}`, /^f line 1: expected "<key id>:<base64 key>"$/],
      [
        `one:${key.key.subarray(0, 16).toString('base64')}`,
        /^f line 1: a codec key is 32 random bytes in base64 \(got 16 bytes\)/,
      ],
      [`one:not base64!`, /\(got not base64\)/],
      [`${keyLine(key)}\n${keyLine(key)}`, /^f line 2: key id "one" appears twice/],
      [`bad id:${b64}`, /^f line 1: a key id is 1 to 64 letters/],
      [`:${b64}`, /^f line 1: a key id is/],
    ];
    for (const [content, expected] of cases) {
      assert.throws(
        () => parseKeyFile(content, 'f'),
        (err: Error) => {
          assert.ok(err instanceof CodecKeyError);
          assert.match(err.message, expected);
          assert.ok(!err.message.includes(b64) && !err.message.includes('\n'), err.message);
          return true;
        },
      );
    }
  });

  it('is off without settings, and reads a single key from the environment with a fingerprint id by default', () => {
    assert.equal(codecKeysFromEnv({}), undefined);
    assert.equal(dataConverterFromEnv({}), undefined);
    const keyless = dataConverterFromEnv({}, { explainEncrypted: true })!.payloadCodecs![0]!;
    assert.ok(keyless instanceof KeylessCodec);
    const fromEnv = codecKeysFromEnv({ OPSFLOW_CODEC_KEY: b64 })!;
    assert.match(fromEnv.current.id, /^k-[0-9a-f]{12}$/);
    assert.deepEqual(fromEnv.current.key, key.key);
    assert.equal(codecKeysFromEnv({ OPSFLOW_CODEC_KEY: b64, OPSFLOW_CODEC_KEY_ID: 'prod-1' })!.current.id, 'prod-1');
    const converter = dataConverterFromEnv({ OPSFLOW_CODEC_KEY: b64 })!;
    assert.equal(converter.payloadCodecs?.length, 1);
    assert.match(converter.failureConverterPath ?? '', /failure-converter\.(ts|js)$/);
  });

  it('refuses wrong environment settings in one line without the key', () => {
    const file = path.join(root, 'env-keys');
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [
        { OPSFLOW_CODEC_KEY: 'c2hvcnQ=' },
        /^OPSFLOW_CODEC_KEY: a codec key is 32 random bytes in base64 \(got 5 bytes\)/,
      ],
      [
        { OPSFLOW_CODEC_KEY: b64, OPSFLOW_CODEC_KEYS_FILE: file },
        /^set OPSFLOW_CODEC_KEYS_FILE or OPSFLOW_CODEC_KEY, not both$/,
      ],
      [{ OPSFLOW_CODEC_KEY_ID: 'x' }, /^OPSFLOW_CODEC_KEY_ID is set but OPSFLOW_CODEC_KEY is not$/],
      [{ OPSFLOW_CODEC_KEY: b64, OPSFLOW_CODEC_KEY_ID: 'a b' }, /^OPSFLOW_CODEC_KEY_ID: a key id is/],
      [
        { OPSFLOW_CODEC_KEYS_FILE: file },
        /^OPSFLOW_CODEC_KEYS_FILE=.*env-keys: no such file; create it with "opsflow keys codec-init"$/,
      ],
    ];
    for (const [env, expected] of cases) {
      assert.throws(
        () => dataConverterFromEnv(env),
        (err: Error) => {
          assert.ok(err instanceof CodecKeyError, String(err));
          assert.match(err.message, expected);
          assert.ok(!err.message.includes(b64));
          return true;
        },
      );
    }
  });

  it('codec-init writes a 0600 file in a 0700 folder and never overwrites; codec-rotate appends the key that encrypts', () => {
    const previous = process.umask(0o000);
    try {
      const file = path.join(root, 'made', 'codec-keys');
      const first = writeCodecKey(file, { id: 'first' });
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
      assert.throws(() => writeCodecKey(file), /exists: opsflow never overwrites a key file/);
      const second = writeCodecKey(file, { rotate: true });
      assert.match(second.id, /^\d{8}-[0-9a-f]{4}$/);
      const ringFromFile = codecKeysFromEnv({ OPSFLOW_CODEC_KEYS_FILE: file })!;
      assert.equal(ringFromFile.current.id, second.id);
      assert.deepEqual(ringFromFile.keys.get('first'), first.key);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.throws(() => writeCodecKey(file, { rotate: true, id: 'first' }), /already has a key "first"/);
      assert.throws(() => writeCodecKey(path.join(root, 'none'), { rotate: true }), /does not exist/);
    } finally {
      process.umask(previous);
    }
  });

  it('refuses a key file others may read', () => {
    const file = path.join(root, 'open-keys');
    writeFileSync(file, `${keyLine(key)}\n`);
    chmodSync(file, 0o644);
    assert.throws(() => codecKeysFromEnv({ OPSFLOW_CODEC_KEYS_FILE: file }), {
      message: `${file} is readable or writable by others (mode 0644): chmod 600 ${file}`,
    });
    chmodSync(file, 0o600);
    assert.equal(codecKeysFromEnv({ OPSFLOW_CODEC_KEYS_FILE: file })!.current.id, 'one');
    assert.ok(readFileSync(file, 'utf8').includes(b64));
  });
});

describe('codec server', () => {
  const key = generateCodecKey('srv');
  const codec = new EncryptionCodec(ring(key));
  const UI = 'http://localhost:8233';
  let server: CodecServer;
  const lines: string[] = [];

  before(async () => {
    server = await startCodecServer({
      codec,
      port: 0,
      origins: [UI, 'http://127.0.0.1:8233/'],
      token: 's3cret-token',
      namespaces: ['default'],
      onRequest: (line) => lines.push(line),
    });
  });
  after(() => server?.close());

  /** A POST as the Temporal CLI sends it (token and X-Namespace), with `headers` overriding; undefined drops one. */
  const post = (endpoint: string, body: unknown, headers: Record<string, string | undefined> = {}) =>
    fetch(`${server.url}${endpoint}`, {
      method: 'POST',
      headers: Object.fromEntries(
        Object.entries({
          'content-type': 'application/json',
          authorization: 'Bearer s3cret-token',
          'x-namespace': 'default',
          ...headers,
        }).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const toJson = (p: Payload) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });

  it('encodes and decodes protobuf-JSON payloads, under any path prefix, from the UI origin', async () => {
    const encoded = await post('/encode', { payloads: [toJson(plain())] }, { origin: UI, 'x-namespace': 'default' });
    assert.equal(encoded.status, 200);
    assert.equal(encoded.headers.get('access-control-allow-origin'), UI);
    const { payloads } = (await encoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(payloads[0]!.metadata['encoding']!, 'base64').toString(), ENCRYPTED_ENCODING);
    const decoded = await post('/default/decode', { payloads }, { 'x-namespace': 'default' });
    assert.equal(decoded.status, 200);
    const back = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.deepEqual(JSON.parse(Buffer.from(back.payloads[0]!.data, 'base64').toString()), input);
    assert.equal(Buffer.from(back.payloads[0]!.metadata['encoding']!, 'base64').toString(), 'json/plain');
    assert.ok(
      lines.some((l) => /^POST \/default\/decode 200 \d+ ms$/.test(l)),
      lines.join('\n'),
    );
  });

  it('answers the UI origin’s preflight and refuses any other origin', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const allowed = await preflight(UI);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), UI);
    assert.equal(allowed.headers.get('access-control-allow-headers'), 'content-type, x-namespace, authorization');
    assert.match(allowed.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal((await preflight('http://127.0.0.1:8233')).status, 204);
    const refused = await preflight('https://evil.example');
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    const post403 = await post('/decode', { payloads: [] }, { origin: 'https://evil.example' });
    assert.equal(post403.status, 403);
  });

  it('refuses a missing or wrong token, a foreign Host, another namespace, other methods and bodies', async () => {
    const [encrypted] = await codec.encode([plain()]);
    const body = { payloads: [toJson(encrypted!)] };
    const wrong = await post('/decode', body, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    const refusal = (await wrong.json()) as { error: { code: string; message: string } };
    assert.equal(refusal.error.code, 'unauthorized');
    assert.ok(!JSON.stringify(refusal).includes('marker-7f3a'));
    assert.equal((await post('/decode', body, { authorization: '' })).status, 401);
    assert.equal((await post('/decode', body, { 'x-namespace': 'payments' })).status, 403);
    assert.equal((await post('/payments/decode', body)).status, 403);
    assert.equal((await post('/default/decode', body, { 'x-namespace': 'payments' })).status, 403);
    assert.equal((await post('/decode', 'payloads', { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post('/decode', '{nope')).status, 400);
    const invalid = await post('/decode', { payloads: [{ data: 'not base64!' }] });
    assert.equal(invalid.status, 400);
    assert.match(((await invalid.json()) as { error: { message: string } }).error.message, /^body: payloads\.0\.data/);
    assert.equal((await post('/elsewhere', body)).status, 404);
    const get = await fetch(`${server.url}/decode`, { headers: { authorization: 'Bearer s3cret-token' } });
    assert.equal(get.status, 405);
    // fetch will not send another Host; a DNS-rebound page's request would carry its own name.
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      const req = http.request(`${server.url}/decode`, {
        method: 'POST',
        headers: { host: 'evil.example', 'content-type': 'application/json', authorization: 'Bearer s3cret-token' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
    assert.equal(rebound, 403);
  });

  it('refuses a request that names no namespace when it serves only some, in one line, and decodes nothing', async () => {
    const [encrypted] = await codec.encode([plain()]);
    const body = { payloads: [toJson(encrypted!)] };
    for (const [endpoint, headers] of [
      ['/decode', { 'x-namespace': undefined }],
      ['/decode', { 'x-namespace': '' }],
      ['/decode', { 'x-namespace': '  ' }],
      // A path segment alone does not do: the UI and the Temporal CLI always send the header.
      ['/default/decode', { 'x-namespace': undefined }],
      ['/decode', { 'x-namespace': undefined, origin: UI }],
    ] as const) {
      const res = await post(endpoint, body, headers);
      assert.equal(res.status, 403, `${endpoint} ${JSON.stringify(headers)}`);
      const text = await res.text();
      assert.ok(!text.includes('marker-7f3a'), text);
      const { error } = JSON.parse(text) as { error: { code: string; message: string } };
      assert.equal(error.code, 'forbidden_namespace');
      assert.match(error.message, /^no namespace named: send X-Namespace: <namespace> \(.*--namespace\)$/);
    }
    // The same request naming the namespace decodes.
    assert.equal((await post('/decode', body)).status, 200);
  });

  it('answers a payload it cannot decrypt with a 400 naming the key id', async () => {
    const [other] = await new EncryptionCodec(ring(generateCodecKey('elsewhere'))).encode([plain()]);
    const res = await post('/decode', { payloads: [toJson(other!)] });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'codec_error');
    assert.match(error.message, /key "elsewhere": test keys has no such key/);
  });
});
