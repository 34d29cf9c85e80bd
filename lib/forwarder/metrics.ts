/**
 * A minimal metrics registry rendering the Prometheus text exposition format (version 0.0.4):
 * `# HELP`, `# TYPE`, then one `name{label="value"} number` line per series. Enough for the
 * forwarder's counters and gauges without a client library.
 */

type Labels = Record<string, string>;

/** One labelled series of a metric. Hot paths hold it (`series(labels)`) and skip the lookup. */
export class Series {
  readonly labels: Labels;
  value = 0;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  inc(by = 1): void {
    this.value += by;
  }

  set(value: number): void {
    this.value = value;
  }
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'gauge';
  protected readonly all = new Map<string, Series>();

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  /**
   * Series by label names and values, one Map level each, in name order: a lookup per event
   * (`inc({gvk, type})`) walks four Maps keyed by strings that are the same each time (their
   * hashes cached) instead of building a key string (~0.1 vs ~0.4 µs measured).
   */
  readonly #tree = new Map<unknown, unknown>();

  protected entry(labels: Labels): Series {
    const { n, a, b } = fewNames(labels);
    let node = this.#tree;
    if (n === 1) {
      node = child(child(node, a), labels[a]);
    } else if (n === 2) {
      node = child(child(child(child(node, a), labels[a]), b), labels[b]);
    } else if (n > 2) {
      for (const k of Object.keys(labels).sort()) node = child(child(node, k), labels[k]);
    }
    let s = node.get(LEAF) as Series | undefined;
    if (!s) {
      const key = labelKey(labels);
      s = this.all.get(key);
      if (!s) {
        s = new Series({ ...labels });
        this.all.set(key, s);
      }
      node.set(LEAF, s);
    }
    return s;
  }

  /**
   * The series of `labels`, created (at 0, and so rendered from now on) if new: for code that
   * updates it per watch event, where building the lookup key each time is measurable.
   */
  series(labels: Labels = {}): Series {
    return this.entry(labels);
  }

  /** The current value of one series (0 when never touched). */
  get(labels: Labels = {}): number {
    return this.all.get(labelKey(labels))?.value ?? 0;
  }

  /** Sum over every series. */
  total(): number {
    let sum = 0;
    for (const s of this.all.values()) sum += s.value;
    return sum;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const s of this.all.values())
      lines.push(`${this.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
    return lines.join('\n');
  }
}

export class Counter extends Metric {
  readonly type = 'counter';

  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels).value += by;
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';

  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels).value += by;
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    const m = new Counter(name, help);
    this.#metrics.push(m);
    return m;
  }

  gauge(name: string, help: string): Gauge {
    const m = new Gauge(name, help);
    this.#metrics.push(m);
    return m;
  }

  render(): string {
    return `${this.#metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

/** Every metric the forwarder exposes on `/metrics`. */
export class ForwarderMetrics {
  readonly registry = new Registry();
  readonly watchEvents = this.registry.counter(
    'sktrace_forwarder_watch_events_total',
    'Watch events received, per kind and event type.',
  );
  readonly listedObjects = this.registry.counter(
    'sktrace_forwarder_listed_objects_total',
    'Objects received in list pages, per kind.',
  );
  readonly relists = this.registry.counter(
    'sktrace_forwarder_relists_total',
    'Lists started per kind and cause (initial, gone, unparsable, stalled).',
  );
  readonly watchRestarts = this.registry.counter(
    'sktrace_forwarder_watch_restarts_total',
    'Watches re-opened per kind and reason (clean end, idle, dropped, error).',
  );
  readonly kubeErrors = this.registry.counter(
    'sktrace_forwarder_kube_errors_total',
    'Failed Kubernetes API requests per kind, operation and status.',
  );
  readonly kubeRequests = this.registry.counter(
    'sktrace_forwarder_kube_requests_total',
    'Requests sent to the Kubernetes API server (lists, watches, gets, discovery).',
  );
  readonly kubeConnections = this.registry.counter(
    'sktrace_forwarder_kube_connections_total',
    'TCP connections opened to the Kubernetes API server (keep-alive reuses them; a ratio to requests near 1 means no reuse).',
  );
  readonly kubeConnectionResets = this.registry.counter(
    'sktrace_forwarder_kube_connection_resets_total',
    'Connections to the Kubernetes API server reset by the peer or cut mid-response.',
  );
  readonly unparsableLines = this.registry.counter(
    'sktrace_forwarder_unparsable_lines_total',
    'Watch lines or list items that could not be parsed, per kind (each one forces a relist of the kind).',
  );
  readonly changesQueued = this.registry.counter(
    'sktrace_forwarder_changes_queued_total',
    'Changes handed to delivery, per kind and change type.',
  );
  readonly deduplicated = this.registry.counter(
    'sktrace_forwarder_changes_deduplicated_total',
    'Watched updates not sent because the spec hash was unchanged, per kind.',
  );
  readonly skippedOwned = this.registry.counter(
    'sktrace_forwarder_changes_skipped_owned_total',
    'Changes not sent because the object has owners and its kind is skipOwned, per kind.',
  );
  readonly ownerLookups = this.registry.counter(
    'sktrace_forwarder_owner_lookups_total',
    'Owner lookups by result (hit, fetched, not_found, error).',
  );
  readonly ownerGets = this.registry.counter(
    'sktrace_forwarder_owner_gets_total',
    'GETs of owners (an owner kind without an index, or an owner its index has not seen yet).',
  );
  readonly lifecycles = this.registry.counter(
    'sktrace_forwarder_lifecycles_total',
    'Pod lifecycle transitions queued, by state (running, finished).',
  );
  readonly changesSent = this.registry.counter(
    'sktrace_forwarder_changes_sent_total',
    'Changes accepted by the ingest endpoint, by change type.',
  );
  readonly batchesSent = this.registry.counter(
    'sktrace_forwarder_batches_sent_total',
    'Batches accepted by the ingest endpoint.',
  );
  readonly deliveryRetries = this.registry.counter(
    'sktrace_forwarder_delivery_retries_total',
    'Batch posts retried, by reason (status code, timeout, connection).',
  );
  readonly changesRejected = this.registry.counter(
    'sktrace_forwarder_changes_rejected_total',
    'Changes the endpoint rejected with a 4xx even alone, dropped and logged, by status.',
  );
  readonly changesDropped = this.registry.counter(
    'sktrace_forwarder_changes_dropped_total',
    'Changes dropped because the delivery queue stayed full (the kind is relisted later), per kind; or left unsent at shutdown.',
  );
  readonly queueChanges = this.registry.gauge(
    'sktrace_forwarder_queue_changes',
    'Changes waiting for delivery, including the batch in flight.',
  );
  readonly queueBytes = this.registry.gauge(
    'sktrace_forwarder_queue_bytes',
    'Bytes (JSON) of the changes waiting for delivery.',
  );
  readonly lastSuccessSec = this.registry.gauge(
    'sktrace_forwarder_last_success_timestamp_seconds',
    'Unix time of the last batch the endpoint accepted.',
  );
  readonly kindsNotFound = this.registry.gauge(
    'sktrace_forwarder_kinds_not_found',
    'Tracked kinds the API server does not serve (yet).',
  );
  readonly kindFound = this.registry.gauge(
    'sktrace_forwarder_kind_found',
    '1 when the API server serves the tracked kind, else 0.',
  );
  readonly kindListed = this.registry.gauge(
    'sktrace_forwarder_kind_listed',
    '1 once the kind has completed a list, else 0.',
  );
  readonly trackedObjects = this.registry.gauge(
    'sktrace_forwarder_tracked_objects',
    'Objects whose spec hash is held for dedupe, per kind.',
  );
  /** Set by the ops server at each scrape (the process metrics of Prometheus client libraries). */
  readonly residentMemory = this.registry.gauge(
    'process_resident_memory_bytes',
    'Resident memory size in bytes.',
  );
  readonly heapUsed = this.registry.gauge('nodejs_heap_size_used_bytes', 'V8 heap used, in bytes.');

  render(): string {
    return this.registry.render();
  }
}

/** The key of a series in a Metric's tree of label names and values (metrics.ts `entry`). */
const LEAF = Symbol('series');

function child(node: Map<unknown, unknown>, key: unknown): Map<unknown, unknown> {
  let next = node.get(key) as Map<unknown, unknown> | undefined;
  if (!next) {
    next = new Map();
    node.set(key, next);
  }
  return next;
}

/**
 * The series key of a label set: `name=value` pairs in name order, NUL-separated. Called per
 * watch event (a few times each): one and two labels, all the forwarder's hot metrics have, are
 * keyed without the arrays of the general case.
 */
export function labelKey(labels: Labels): string {
  const { n, a, b } = fewNames(labels);
  if (n === 0) return '';
  if (n === 1) return `${a}=${labels[a]}`;
  if (n === 2) return `${a}=${labels[a]}\u0000${b}=${labels[b]}`;
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');
}

/** How many label names `labels` has and, when one or two, those names in name order. */
interface FewNames {
  n: number;
  a: string;
  b: string;
}

// One scratch, read at once by the caller: no array or object per lookup on the watch path.
const FEW_NAMES: FewNames = { n: 0, a: '', b: '' };

function fewNames(labels: Labels): FewNames {
  let first = '';
  let second = '';
  let n = 0;
  for (const k in labels) {
    if (n === 0) first = k;
    else if (n === 1) second = k;
    n++;
  }
  // `<` on strings orders UTF-16 code units, as Array.prototype.sort() does.
  const swap = n === 2 && second < first;
  FEW_NAMES.n = n;
  FEW_NAMES.a = swap ? second : first;
  FEW_NAMES.b = swap ? first : second;
  return FEW_NAMES;
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
