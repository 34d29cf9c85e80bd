/**
 * Kubernetes access for the forwarder: which API server, its TLS settings and the credentials,
 * from `--kubeconfig`, the in-cluster service account, `$KUBECONFIG` or `~/.kube/config` — the
 * order client-go's `clientcmd` and kubectl use.
 *
 * Own code rather than @kubernetes/client-node's KubeConfig: importing client-node takes a Node 22
 * process from 43 MiB to 128 MiB RSS (its generated API models load with it), for the ~300 lines
 * here. What is supported is what a forwarder meets in practice:
 * - clusters: `server`, `certificate-authority(-data)`, `insecure-skip-tls-verify`, `tls-server-name`;
 * - users: `token`, `tokenFile`, `client-certificate(-data)`/`client-key(-data)`, `username`/`password`,
 *   and `exec` credential plugins (client.authentication.k8s.io v1 and v1beta1: `aws eks get-token`,
 *   `gke-gcloud-auth-plugin`, `kubelogin`);
 * - the legacy in-tree `auth-provider`s (gcp, azure, oidc) are refused with a clear error: they
 *   were removed from client-go in 1.26 in favour of exec plugins.
 *
 * Credentials that change while the process runs are re-read, as client-go does:
 * - a token file (the in-cluster service-account token, rotated by the kubelet hourly-ish) is
 *   re-read after 60 s (client-go transport `NewCachedFileTokenSource`, period 1 minute) and at
 *   once after a 401, and trimmed: a file written by hand or a Secret often ends in a newline,
 *   which would otherwise end up inside the Authorization header;
 * - an exec plugin is run again once its credential's `expirationTimestamp` has passed and after
 *   a 401 (client-go plugin/pkg/client/auth/exec: `maybeRefreshCreds` on 401).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SktraceError } from '../errors.ts';

/** Where kubelet mounts the service account (client-go rest.InClusterConfig reads the same files). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go `NewCachedFileTokenSource`: a token file is re-read at most once a minute. */
const TOKEN_FILE_PERIOD_MS = 60_000;
const EXEC_TIMEOUT_MS = 60_000;

export interface KubeConfigSource {
  /** --kubeconfig: wins over everything. */
  kubeconfigPath?: string;
  /** The process environment (KUBERNETES_SERVICE_HOST/PORT, KUBECONFIG, HOME). */
  env: Record<string, string | undefined>;
  /** Prefix of the service account mount (`<root>/var/run/secrets/…`); tests point it elsewhere. */
  serviceAccountRoot?: string;
}

/** TLS options for node:https, per request (the agent pools connections per distinct set). */
export interface KubeTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

/** What a request is signed with right now. */
export interface Credential {
  authorization?: string;
  /** Client certificate from an exec plugin (overrides the kubeconfig's). */
  cert?: Buffer;
  key?: Buffer;
}

export interface Credentials {
  /** The credential to use now (may run an exec plugin or read a file). */
  current(nowMs: number): Promise<Credential>;
  /** The API server answered 401: the next `current` re-reads the file or re-runs the plugin. */
  invalidate(): void;
  /** For logs: `token`, `tokenFile`, `exec aws`, `client certificate`, `none`. */
  readonly describe: string;
}

export interface KubeAccess {
  /** The API server URL, without trailing slash. */
  server: string;
  tls: KubeTls;
  credentials: Credentials;
  /** The context's namespace, when set. */
  namespace?: string;
}

/**
 * The access to use: `--kubeconfig` if given; else the in-cluster service account when running
 * in a pod (KUBERNETES_SERVICE_HOST set and the token mounted); else KUBECONFIG or ~/.kube/config.
 */
export function loadKubeConfig(source: KubeConfigSource): { config: KubeAccess; origin: string } {
  try {
    if (source.kubeconfigPath) {
      return { config: fromFiles([source.kubeconfigPath], source.env), origin: source.kubeconfigPath };
    }
    const saDir = (source.serviceAccountRoot ?? '') + SERVICE_ACCOUNT_DIR;
    if (source.env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) {
      return { config: inCluster(saDir, source.env), origin: 'in-cluster service account' };
    }
    const files = (source.env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
    if (files.length > 0) return { config: fromFiles(files, source.env), origin: source.env.KUBECONFIG! };
    const home = source.env.HOME ?? homedir();
    const path = join(home, '.kube', 'config');
    return { config: fromFiles([path], source.env), origin: path };
  } catch (err) {
    if (err instanceof SktraceError) throw err;
    throw new SktraceError(
      'kubeconfig',
      `cannot load the kubeconfig: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
}

/** client-go rest.InClusterConfig: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the mounted CA and token. */
function inCluster(saDir: string, env: Record<string, string | undefined>): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  // net.JoinHostPort: IPv6 literals in brackets.
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const caPath = join(saDir, 'ca.crt');
  const ca = existsSync(caPath) ? readFileSync(caPath) : undefined;
  const tls: KubeTls = { rejectUnauthorized: true };
  if (ca && ca.length > 0) tls.ca = ca;
  const namespacePath = join(saDir, 'namespace');
  const access: KubeAccess = { server, tls, credentials: new TokenFileCredentials(join(saDir, 'token')) };
  if (existsSync(namespacePath)) access.namespace = readFileSync(namespacePath, 'utf8').trim();
  return access;
}

interface NamedEntry<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}
type Doc = Record<string, unknown>;

/** Loads and merges kubeconfig files as kubectl does: the first file to set a name (or current-context) wins. */
function fromFiles(files: string[], env: Record<string, string | undefined>): KubeAccess {
  const clusters = new Map<string, { doc: Doc; dir: string }>();
  const users = new Map<string, { doc: Doc; dir: string }>();
  const contexts = new Map<string, Doc>();
  let current: string | undefined;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new SktraceError(
        'kubeconfig',
        `cannot read the kubeconfig ${file}: ${(err as Error).message}`,
        { file },
        { cause: err },
      );
    }
    const doc = (parseYaml(text) ?? {}) as Doc;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      throw new SktraceError('kubeconfig', `the kubeconfig ${file} is not a YAML mapping`, { file });
    }
    const dir = dirname(resolve(file));
    for (const e of asArray<NamedEntry<Doc>>(doc.clusters)) {
      if (typeof e.name === 'string' && !clusters.has(e.name))
        clusters.set(e.name, { doc: e.cluster ?? {}, dir });
    }
    for (const e of asArray<NamedEntry<Doc>>(doc.users)) {
      if (typeof e.name === 'string' && !users.has(e.name)) users.set(e.name, { doc: e.user ?? {}, dir });
    }
    for (const e of asArray<NamedEntry<Doc>>(doc.contexts)) {
      if (typeof e.name === 'string' && !contexts.has(e.name)) contexts.set(e.name, e.context ?? {});
    }
    if (
      current === undefined &&
      typeof doc['current-context'] === 'string' &&
      doc['current-context'] !== ''
    ) {
      current = doc['current-context'];
    }
  }
  const where = files.join(delimiter);
  if (current === undefined) {
    throw new SktraceError('kubeconfig', `no current-context in ${where}`, { where });
  }
  const context = contexts.get(current);
  if (!context)
    throw new SktraceError('kubeconfig', `context ${current} is not defined in ${where}`, { where });
  const clusterName = String(context.cluster ?? '');
  const cluster = clusters.get(clusterName);
  if (!cluster || typeof cluster.doc.server !== 'string' || cluster.doc.server === '') {
    throw new SktraceError('kubeconfig', `no current cluster with a server URL in ${where}`, {
      where,
      cluster: clusterName,
    });
  }
  const c = cluster.doc;
  const tls: KubeTls = { rejectUnauthorized: c['insecure-skip-tls-verify'] !== true };
  const ca = material(c, 'certificate-authority', cluster.dir);
  if (ca) tls.ca = ca;
  if (typeof c['tls-server-name'] === 'string') tls.servername = c['tls-server-name'];
  const userName = String(context.user ?? '');
  const user = users.get(userName) ?? { doc: {}, dir: cluster.dir };
  const cert = material(user.doc, 'client-certificate', user.dir);
  const key = material(user.doc, 'client-key', user.dir);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const server = (c.server as string).replace(/\/+$/, '');
  const access: KubeAccess = {
    server,
    tls,
    credentials: credentialsOf(user.doc, user.dir, env, { server, ...(ca ? { ca } : {}) }, userName),
  };
  if (typeof context.namespace === 'string') access.namespace = context.namespace;
  return access;
}

function credentialsOf(
  u: Doc,
  dir: string,
  env: Record<string, string | undefined>,
  cluster: { server: string; ca?: Buffer },
  userName: string,
): Credentials {
  if (u['auth-provider'] !== undefined) {
    const name = (u['auth-provider'] as Doc | null)?.name;
    throw new SktraceError(
      'kubeconfig',
      `user ${userName}: auth-provider ${JSON.stringify(name)} is not supported (removed from client-go in 1.26); use an exec credential plugin`,
      { user: userName },
    );
  }
  if (u.exec !== undefined) return new ExecCredentials(parseExec(u.exec, dir, userName), env, cluster);
  if (typeof u.token === 'string' && u.token.trim() !== '')
    return new StaticCredentials(u.token.trim(), 'token');
  if (typeof u.tokenFile === 'string' && u.tokenFile !== '')
    return new TokenFileCredentials(pathIn(dir, u.tokenFile));
  if (typeof u.username === 'string' && typeof u.password === 'string') {
    const basic = Buffer.from(`${u.username}:${u.password}`).toString('base64');
    return {
      current: async () => ({ authorization: `Basic ${basic}` }),
      invalidate: () => {},
      describe: 'basic',
    };
  }
  return { current: async () => ({}), invalidate: () => {}, describe: 'none' };
}

/** `<name>-data` (base64) or `<name>` (a path, relative to the kubeconfig's directory). */
function material(doc: Doc, name: string, dir: string): Buffer | undefined {
  const data = doc[`${name}-data`];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  const path = doc[name];
  if (typeof path === 'string' && path !== '') return readFileSync(pathIn(dir, path));
  return undefined;
}

function pathIn(dir: string, path: string): string {
  return isAbsolute(path) ? path : join(dir, path);
}

function asArray<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v.filter((x) => x !== null && typeof x === 'object') as T[]) : [];
}

class StaticCredentials implements Credentials {
  readonly #credential: Credential;
  readonly describe: string;
  constructor(token: string, describe: string) {
    this.#credential = { authorization: `Bearer ${token}` };
    this.describe = describe;
  }
  async current(): Promise<Credential> {
    return this.#credential;
  }
  invalidate(): void {}
}

/** A bearer token in a file, re-read every minute and after a 401, trimmed. */
export class TokenFileCredentials implements Credentials {
  readonly #path: string;
  readonly describe = 'tokenFile';
  #token: string | undefined;
  #readAtMs = Number.NEGATIVE_INFINITY;

  constructor(path: string) {
    this.#path = path;
  }

  async current(nowMs: number): Promise<Credential> {
    if (this.#token === undefined || nowMs - this.#readAtMs >= TOKEN_FILE_PERIOD_MS) {
      try {
        this.#token = readFileSync(this.#path, 'utf8').trim();
        this.#readAtMs = nowMs;
      } catch (err) {
        // Mid-rotation the kubelet swaps a symlink; keep the last token rather than send none.
        if (this.#token === undefined) {
          throw new SktraceError(
            'kubeconfig',
            `cannot read the token file ${this.#path}: ${(err as Error).message}`,
            { path: this.#path },
            { cause: err },
          );
        }
      }
    }
    return this.#token ? { authorization: `Bearer ${this.#token}` } : {};
  }

  invalidate(): void {
    this.#readAtMs = Number.NEGATIVE_INFINITY;
  }
}

export interface ExecConfig {
  command: string;
  args: string[];
  env: Array<{ name: string; value: string }>;
  apiVersion: string;
  provideClusterInfo: boolean;
}

function parseExec(v: unknown, dir: string, userName: string): ExecConfig {
  const e = (v ?? {}) as Doc;
  if (typeof e.command !== 'string' || e.command === '') {
    throw new SktraceError('kubeconfig', `user ${userName}: exec has no command`, { user: userName });
  }
  const apiVersion = typeof e.apiVersion === 'string' ? e.apiVersion : '';
  if (!/^client\.authentication\.k8s\.io\/(v1|v1beta1)$/.test(apiVersion)) {
    throw new SktraceError(
      'kubeconfig',
      `user ${userName}: exec apiVersion ${JSON.stringify(apiVersion)} is not client.authentication.k8s.io/v1 or v1beta1`,
      { user: userName },
    );
  }
  // client-go: a command with a path separator is relative to the kubeconfig; a bare name is looked up in PATH.
  const command = e.command.includes('/') ? pathIn(dir, e.command) : e.command;
  return {
    command,
    args: Array.isArray(e.args) ? e.args.map(String) : [],
    env: asArray<{ name?: unknown; value?: unknown }>(e.env).map((x) => ({
      name: String(x.name),
      value: String(x.value ?? ''),
    })),
    apiVersion,
    provideClusterInfo: e.provideClusterInfo === true,
  };
}

/**
 * An exec credential plugin (client-go plugin/pkg/client/auth/exec): run with KUBERNETES_EXEC_INFO,
 * its stdout an ExecCredential whose `status` has a `token` or client certificate and maybe an
 * `expirationTimestamp`. The credential is kept until it expires or the server answers 401; one
 * run at a time, shared by concurrent requests.
 */
export class ExecCredentials implements Credentials {
  readonly #exec: ExecConfig;
  readonly #env: Record<string, string | undefined>;
  readonly #cluster: { server: string; ca?: Buffer };
  readonly describe: string;
  #credential: Credential | undefined;
  #expiresAtMs = Number.POSITIVE_INFINITY;
  #running: Promise<Credential> | undefined;

  constructor(
    exec: ExecConfig,
    env: Record<string, string | undefined>,
    cluster: { server: string; ca?: Buffer },
  ) {
    this.#exec = exec;
    this.#env = env;
    this.#cluster = cluster;
    this.describe = `exec ${exec.command}`;
  }

  current(nowMs: number): Promise<Credential> {
    if (this.#credential && nowMs < this.#expiresAtMs) return Promise.resolve(this.#credential);
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  invalidate(): void {
    this.#credential = undefined;
  }

  async #run(): Promise<Credential> {
    const { command, args, apiVersion } = this.#exec;
    const spec: Doc = { interactive: false };
    if (this.#exec.provideClusterInfo) {
      const cluster: Doc = { server: this.#cluster.server };
      if (this.#cluster.ca) cluster['certificate-authority-data'] = this.#cluster.ca.toString('base64');
      spec.cluster = cluster;
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#env)) if (v !== undefined) env[k] = v;
    for (const { name, value } of this.#exec.env) env[name] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec });
    const stdout = await new Promise<string>((resolvePromise, reject) => {
      execFile(
        command,
        args,
        { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1024 * 1024 },
        (err, out, stderr) => {
          if (err) {
            reject(
              new SktraceError(
                'kube_exec_credential',
                `exec credential plugin ${command} failed: ${err.message}${stderr ? `: ${String(stderr).slice(0, 500)}` : ''}`,
                { command },
                { cause: err },
              ),
            );
          } else resolvePromise(String(out));
        },
      );
    });
    let doc: Doc;
    try {
      doc = JSON.parse(stdout) as Doc;
    } catch (err) {
      throw new SktraceError(
        'kube_exec_credential',
        `exec credential plugin ${command} did not print JSON`,
        { command },
        { cause: err },
      );
    }
    const status = (doc?.status ?? {}) as Doc;
    if (doc?.kind !== 'ExecCredential' || doc.apiVersion !== apiVersion) {
      throw new SktraceError(
        'kube_exec_credential',
        `exec credential plugin ${command} printed ${String(doc?.apiVersion)} ${String(doc?.kind)}, not ${apiVersion} ExecCredential`,
        { command },
      );
    }
    const credential: Credential = {};
    if (typeof status.token === 'string' && status.token !== '')
      credential.authorization = `Bearer ${status.token}`;
    if (typeof status.clientCertificateData === 'string' && typeof status.clientKeyData === 'string') {
      credential.cert = Buffer.from(status.clientCertificateData);
      credential.key = Buffer.from(status.clientKeyData);
    }
    if (!credential.authorization && !credential.cert) {
      throw new SktraceError(
        'kube_exec_credential',
        `exec credential plugin ${command} gave neither a token nor a client certificate`,
        { command },
      );
    }
    const expires =
      typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : Number.NaN;
    this.#expiresAtMs = Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires;
    this.#credential = credential;
    return credential;
  }
}
