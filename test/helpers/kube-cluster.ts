import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePort } from '../../src/tooling/ports';

const REPO = path.resolve(__dirname, '..', '..');
const KUBE_TOOLS = path.join(REPO, 'scripts', 'kube-tools');
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
const CONTEXT = 'opsflow-test';
const SERVICE_CIDR = '10.0.0.0/24';
/** kwok manages only nodes with this annotation, so a test can tell fake nodes from anything else. */
const KWOK_ANNOTATION = { key: 'kwok.x-k8s.io/node', value: 'fake' };
const NOT_BUILT =
  'the Kubernetes test tools are not built: run `bash scripts/kube-tools` once (about 15 minutes on 2 cores, then cached)';

const execFileAsync = promisify(execFile);

/** A Kubernetes control plane on loopback: etcd, kube-apiserver, controller-manager, scheduler, kwok and one fake node. */
export interface KubeCluster {
  /** https://127.0.0.1:PORT */
  server: string;
  /** The admin kubeconfig file; its context is named 'opsflow-test'. */
  kubeconfigPath: string;
  /** The admin's bearer token (group system:masters). */
  token: string;
  /** The CA that signed the API server's certificate. */
  caPath: string;
  /** Writes a kubeconfig for a bearer token (a service account's, say) with context 'opsflow-test'; returns its path. */
  kubeconfigFor(token: string, name: string): Promise<string>;
  /** Stops exactly the processes it started, waits for them to exit and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
  /** The fake node kwok keeps Ready; the scheduler places pods there. */
  nodeName: string;
  /** The folder with certificates, kubeconfigs, data and one log per process (`logs/<name>.log`). */
  dir: string;
  /** The process id of each component, by name, while it runs. */
  pids: Record<string, number>;
  /** Milliseconds each start-up phase took, and `total`. */
  timings: Record<string, number>;
  /** Runs kubectl as the admin; `input` goes to its stdin. Resolves with stdout; rejects with its stderr. */
  kubectl(args: string[], input?: string): Promise<string>;
}

/** Where a start differs from the default. */
export interface KubeClusterOptions {
  /** Working folder (certificates, data, logs); kept after stop(). Default: a new temp dir, removed by stop(). */
  dir?: string;
  /** The folder `scripts/kube-tools` built. Default: kubeToolsAvailable(). */
  toolsDir?: string;
}

/**
 * The folder `scripts/kube-tools` builds (or $OPSFLOW_KUBE_TOOLS_DIR) when every binary, the Gateway API CRDs and
 * the kwok stages are there; undefined when they are not built yet.
 */
export function kubeToolsAvailable(): string | undefined {
  let dir = process.env['OPSFLOW_KUBE_TOOLS_DIR'];
  if (!dir) {
    try {
      dir = execFileSync('bash', [KUBE_TOOLS, '--print-dir'], { encoding: 'utf8' }).trim().split('\n').at(-1);
    } catch {
      return undefined;
    }
  }
  if (!dir) return undefined;
  const can = (file: string, mode: number) => {
    try {
      accessSync(path.join(dir, file), mode);
      return true;
    } catch {
      return false;
    }
  };
  const complete =
    BINARIES.every((name) => can(path.join('bin', name), constants.X_OK)) &&
    can('kwok-stages.yaml', constants.R_OK) &&
    can('gateway-api', constants.R_OK);
  return complete ? dir : undefined;
}

/**
 * Why a cluster test is skipped, or false when it runs. Under CI (env CI set) it always runs, so tools CI failed to
 * build fail the test instead of skipping it.
 */
export function kubeSkipReason(): string | false {
  return process.env['CI'] || kubeToolsAvailable() ? false : NOT_BUILT;
}

/**
 * Starts a control plane on free loopback ports and resolves once the fake node is Ready: 6 s on a quiet 2-core
 * machine, up to 16 s on a busy one. Throws, naming the component and quoting its log, when one fails to start.
 */
export async function startKubeCluster(options: KubeClusterOptions = {}): Promise<KubeCluster> {
  const tools = options.toolsDir ?? kubeToolsAvailable();
  if (!tools) throw new Error(NOT_BUILT);
  let dir: string;
  if (options.dir) {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    dir = options.dir;
  } else {
    dir = mkdtempSync(path.join(os.tmpdir(), 'opsflow-kube-'));
  }
  const cluster = new RunningCluster(tools, dir, !options.dir);
  try {
    await cluster.boot();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** One started component: its child process, its log and a promise of its exit. */
interface Component {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
  /** How it ended, once it has: "code 1", "signal SIGKILL", or a spawn error. */
  ending?: string;
}

/** Every cluster of this process, so an exit without stop() still kills their process groups. */
const running = new Set<RunningCluster>();
process.on('exit', () => {
  for (const cluster of running) cluster.killAllNow();
});

class RunningCluster implements KubeCluster {
  server = '';
  kubeconfigPath: string;
  token = randomBytes(24).toString('hex');
  caPath: string;
  nodeName = 'kwok-node-0';
  timings: Record<string, number> = {};
  private readonly components: Component[] = [];
  private stopping?: Promise<void>;

  constructor(
    readonly toolsDir: string,
    readonly dir: string,
    private readonly ownsDir: boolean,
  ) {
    this.kubeconfigPath = path.join(dir, 'admin.kubeconfig');
    this.caPath = path.join(dir, 'pki', 'ca.crt');
    running.add(this);
  }

  get pids(): Record<string, number> {
    const pids: Record<string, number> = {};
    for (const c of this.components)
      if (c.child.pid !== undefined && c.ending === undefined) pids[c.name] = c.child.pid;
    return pids;
  }

  async boot(): Promise<void> {
    const started = Date.now();
    const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const t = Date.now();
      const result = await work();
      this.timings[name] = Date.now() - t;
      return result;
    };
    mkdirSync(path.join(this.dir, 'logs'), { recursive: true });
    // Four different ports: the OS may hand a just-released port out again.
    const ports = new Set<number>();
    while (ports.size < 4) ports.add(await freePort());
    const [etcdClient, etcdPeer, apiPort, kwokPort] = [...ports] as [number, number, number, number];
    this.server = `https://127.0.0.1:${apiPort}`;

    const pki = await phase('certificates', () => generatePki(path.join(this.dir, 'pki')));
    const tokens = {
      admin: this.token,
      controllerManager: randomBytes(24).toString('hex'),
      scheduler: randomBytes(24).toString('hex'),
      kwok: randomBytes(24).toString('hex'),
    };
    // Every component is in system:masters: a test cluster, not a lesson in least privilege; the names keep audit
    // and error messages readable.
    writeFileSync(
      path.join(this.dir, 'tokens.csv'),
      [
        `${tokens.admin},admin,admin,system:masters`,
        `${tokens.controllerManager},system:kube-controller-manager,kube-controller-manager,system:masters`,
        `${tokens.scheduler},system:kube-scheduler,kube-scheduler,system:masters`,
        `${tokens.kwok},kwok,kwok,system:masters`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    this.writeKubeconfig(this.kubeconfigPath, 'admin', tokens.admin);
    const cmKubeconfig = this.writeKubeconfig(
      path.join(this.dir, 'controller-manager.kubeconfig'),
      'cm',
      tokens.controllerManager,
    );
    const schedKubeconfig = this.writeKubeconfig(
      path.join(this.dir, 'scheduler.kubeconfig'),
      'sched',
      tokens.scheduler,
    );
    const kwokKubeconfig = this.writeKubeconfig(path.join(this.dir, 'kwok.kubeconfig'), 'kwok', tokens.kwok);

    await phase('etcd', async () => {
      const peer = `http://127.0.0.1:${etcdPeer}`;
      const etcd = this.launch('etcd', [
        '--name=opsflow-test',
        `--data-dir=${path.join(this.dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=opsflow-test=${peer}`,
        '--initial-cluster-state=new',
        // Test data: losing it in a crash costs nothing, and fsync is most of etcd's latency.
        '--unsafe-no-fsync',
      ]);
      await this.waitFor('etcd /health', 20_000, etcd, async () =>
        (await plainGet(`http://127.0.0.1:${etcdClient}/health`)).includes('"health":"true"'),
      );
    });

    const apiserver = await phase('kube-apiserver', async () => {
      const apiserver = this.launch('kube-apiserver', [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${path.join(this.dir, 'apiserver')}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--token-auth-file=${path.join(this.dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPublic}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        // The default reconciler refuses a loopback advertise address.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
      ]);
      await this.waitFor('kube-apiserver /readyz', 60_000, apiserver, async () => {
        const { status } = await this.api('GET', '/readyz');
        return status === 200;
      });
      return apiserver;
    });

    const controllerManager = this.launch('kube-controller-manager', [
      `--kubeconfig=${cmKubeconfig}`,
      '--secure-port=0',
      '--leader-elect=false',
      // Signs the tokens of service-account-token Secrets; the API server verifies them with sa.pub.
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--cluster-name=${CONTEXT}`,
    ]);
    const scheduler = this.launch('kube-scheduler', [
      `--kubeconfig=${schedKubeconfig}`,
      '--secure-port=0',
      '--leader-elect=false',
    ]);
    const kwok = this.launch('kwok', [
      `--kubeconfig=${kwokKubeconfig}`,
      `--config=${path.join(this.toolsDir, 'kwok-stages.yaml')}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION.key}=${KWOK_ANNOTATION.value}`,
      `--server-address=127.0.0.1:${kwokPort}`,
      // Pod IPs outside the service range, so nothing looks like a ClusterIP.
      '--cidr=10.244.0.1/16',
    ]);

    await Promise.all([
      phase('gateway-api CRDs', async () => {
        await this.kubectl([
          'apply',
          '--server-side',
          '--force-conflicts',
          '-f',
          path.join(this.toolsDir, 'gateway-api'),
        ]);
        await this.waitFor('the Gateway API CRDs to be Established', 30_000, apiserver, async () => {
          const { status, body } = await this.api('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
          if (status !== 200) return false;
          const crds = (JSON.parse(body) as { items: CustomResourceDefinition[] }).items.filter(
            (crd) => crd.spec.group === 'gateway.networking.k8s.io',
          );
          return crds.length > 0 && crds.every((crd) => hasCondition(crd.status, 'Established'));
        });
      }),
      phase('fake node Ready', async () => {
        const { status, body } = await this.api('POST', '/api/v1/nodes', fakeNode(this.nodeName));
        if (status !== 201) throw new Error(`creating the fake node failed: HTTP ${status}: ${body}`);
        await this.waitFor(`node ${this.nodeName} to be Ready`, 30_000, kwok, async () => {
          const node = await this.api('GET', `/api/v1/nodes/${this.nodeName}`);
          return node.status === 200 && hasCondition((JSON.parse(node.body) as { status?: Status }).status, 'Ready');
        });
      }),
      phase('controllers', () =>
        // The service-account controller makes `default` in each namespace; pods cannot be created before it.
        this.waitFor('the default service account', 30_000, controllerManager, async () => {
          const { status } = await this.api('GET', '/api/v1/namespaces/default/serviceaccounts/default');
          return status === 200;
        }),
      ),
    ]);
    // The scheduler logs nothing on success: make sure it is at least still running.
    this.check(scheduler);
    this.timings['total'] = Date.now() - started;
  }

  async kubeconfigFor(token: string, name: string): Promise<string> {
    const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
    return this.writeKubeconfig(path.join(this.dir, `kubeconfig-${safe}.yaml`), name, token);
  }

  async kubectl(args: string[], input?: string): Promise<string> {
    const kubectl = process.env['KUBECTL'] ?? 'kubectl';
    return new Promise((resolve, reject) => {
      const child = spawn(kubectl, ['--kubeconfig', this.kubeconfigPath, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, KUBECONFIG: this.kubeconfigPath },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', (err) =>
        reject(new Error(`could not run ${kubectl}: ${err.message} (install kubectl or set KUBECTL)`)),
      );
      child.once('close', (code) =>
        code === 0
          ? resolve(stdout)
          : reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${(stderr || stdout).trim()}`)),
      );
      child.stdin.end(input ?? '');
    });
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  /** Synchronous last resort on process exit: SIGKILL every group still running. */
  killAllNow(): void {
    for (const c of this.components) if (c.ending === undefined) killGroup(c, 'SIGKILL');
  }

  private async stopAll(): Promise<void> {
    // Clients first, then the API server, then its storage: no component outlives what it talks to.
    const order = [['kwok', 'kube-scheduler', 'kube-controller-manager'], ['kube-apiserver'], ['etcd']];
    for (const names of order) {
      await Promise.all(this.components.filter((c) => names.includes(c.name)).map((c) => terminate(c)));
    }
    running.delete(this);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Starts one binary from the tools folder in its own process group, its output in logs/<name>.log. */
  private launch(name: string, args: string[]): Component {
    const log = path.join(this.dir, 'logs', `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(path.join(this.toolsDir, 'bin', name), args, {
      cwd: this.dir,
      detached: true,
      stdio: ['ignore', fd, fd],
      // No component reads the person's ~/.kube or ~/.kwok.
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: this.dir },
    });
    closeSync(fd);
    // The test process may exit without waiting for these; the exit handler kills them.
    child.unref();
    const component: Component = { name, child, log, exited: Promise.resolve() };
    component.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        component.ending = signal ? `signal ${signal}` : `code ${code}`;
        resolve();
      });
      child.once('error', (err) => {
        component.ending ??= `error: ${err.message}`;
        resolve();
      });
    });
    this.components.push(component);
    return component;
  }

  /** Throws, naming the component and quoting its log, when it has exited. */
  private check(component: Component): void {
    if (component.ending !== undefined) throw startFailure(component, `exited (${component.ending}) during start-up`);
  }

  /** Polls `ready` every 100 ms; fails early when any component exits and blames `owner` on timeout. */
  private async waitFor(what: string, timeoutMs: number, owner: Component, ready: () => Promise<boolean>) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const c of this.components) this.check(c);
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) throw startFailure(owner, `was not ready: waited ${timeoutMs} ms for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** One request to the API server as the admin. */
  private api(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: string }> {
    const ca = readFileSync(this.caPath);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${this.server}${urlPath}`,
        {
          method,
          ca,
          timeout: 5000,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json' } : {}),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  private writeKubeconfig(file: string, user: string, token: string): string {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: CONTEXT,
          cluster: { server: this.server, 'certificate-authority-data': readFileSync(this.caPath).toString('base64') },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user } }],
      'current-context': CONTEXT,
    };
    writeFileSync(file, stringify(config), { mode: 0o600 });
    return file;
  }
}

interface Status {
  conditions?: { type: string; status: string }[];
}
interface CustomResourceDefinition {
  spec: { group: string };
  status?: Status;
}

function hasCondition(status: Status | undefined, type: string): boolean {
  return status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

/** A Node kwok will manage: the annotation selects it, the capacity lets the scheduler place pods on it. */
function fakeNode(name: string) {
  const capacity = { cpu: '32', memory: '256Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION.key]: KWOK_ANNOTATION.value, 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
    spec: {},
    status: { capacity, allocatable: capacity },
  };
}

/** The CA, the API server's serving certificate and the service-account key pair, made with openssl. */
async function generatePki(dir: string) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => path.join(dir, name);
  const openssl = async (...args: string[]) => {
    try {
      await execFileAsync('openssl', args, { cwd: dir });
    } catch (err) {
      const { stderr, message } = err as { stderr?: string; message: string };
      throw new Error(`openssl ${args[0]} failed: ${(stderr || message).trim()}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await Promise.all([
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-subj', '/CN=opsflow-test-ca'),
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'sa.key').then(() =>
      openssl('pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'),
    ),
    openssl('req', '-new', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'),
  ]);
  // 10.0.0.1 is the `kubernetes` Service's ClusterIP in SERVICE_CIDR.
  writeFileSync(
    file('apiserver.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await openssl(
    'x509',
    '-req',
    '-in',
    'apiserver.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '7',
    '-extfile',
    'apiserver.ext',
    '-out',
    'apiserver.crt',
  );
  return {
    caCert: file('ca.crt'),
    serverCert: file('apiserver.crt'),
    serverKey: file('apiserver.key'),
    saKey: file('sa.key'),
    saPublic: file('sa.pub'),
  };
}

/** GET over plain http (etcd's loopback client URL), resolving with the body. */
function plainGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { timeout: 2000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

function killGroup(component: Component, signal: NodeJS.Signals): void {
  const pid = component.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * SIGTERM to the component's process group, SIGKILL after 10 s; resolves once it has exited. Never signals a group
 * whose leader has exited: its id may belong to someone else's process by then.
 */
async function terminate(component: Component): Promise<void> {
  if (component.ending === undefined) {
    killGroup(component, 'SIGTERM');
    const timer = setTimeout(() => killGroup(component, 'SIGKILL'), 10_000);
    await component.exited;
    clearTimeout(timer);
  }
}

function startFailure(component: Component, what: string): Error {
  let tail = '';
  try {
    tail = readFileSync(component.log, 'utf8').trimEnd().split('\n').slice(-25).join('\n');
  } catch {
    tail = '(no log)';
  }
  return new Error(`${component.name} ${what}; last lines of its log:\n${tail}`);
}
