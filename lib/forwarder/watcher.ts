/**
 * The list/watch loop of one kind as explicit states and one pure step function, modelled on
 * kube-rs's `runtime::watcher`:
 *
 *   empty ──list──▶ listing(continue) ──last page──▶ listed(rv) ──watch opened──▶ watching(rv)
 *     ▲                                                ▲                           │
 *     └──── 410 Gone, unparsable line, stall ──────────┼───────────────────────────┤
 *                                                      └──── stream ended ─────────┘
 *
 * - A list is paged (`limit`, `continue`); all pages come from one snapshot, whose
 *   resourceVersion the watch then starts from (Kubernetes API concepts, "Efficient detection
 *   of changes" and "Retrieving large results sets in chunks").
 * - The watch asks for bookmarks (`allowWatchBookmarks`), which only advance the
 *   resourceVersion, and for `timeoutSeconds`, after which the server ends the response
 *   cleanly; a clean end resumes from the last resourceVersion without relisting.
 * - 410 Gone (an ERROR event with code 410, or HTTP 410 on a list continue or a watch) means the
 *   resourceVersion was compacted away: only a full relist is consistent again.
 * - A line that cannot be parsed may have been a change: it is reported, and the kind is
 *   relisted, so the store ends consistent instead of silently missing that change.
 * - Every (re)list ends with `relisted`, the sorted nsNames of the whole kind, which become
 *   relist pages: the store deletes the objects of this kind that vanished meanwhile.
 *
 * Failures come back as `failure`; the runner asks its backoff policy how long to wait.
 */
import { nsNameOf } from '../trace/gvk.ts';
import type { KubeObject, NsName } from '../trace/model.ts';
import { sortNsNames } from './relist.ts';

export interface WatcherOptions {
  apiVersion: string;
  kind: string;
  /** Items per list page. */
  pageLimit: number;
  /** Asked of the server; it ends the watch cleanly after this long. */
  watchTimeoutSec: number;
}

/**
 * Why a kind is being (re)listed, for logs and metrics. `expired`: a continue token expired
 * mid-list (etcd compacted the list's snapshot); `removed`: the kind was served again after a 404.
 */
export type RelistCause = 'initial' | 'gone' | 'expired' | 'unparsable' | 'stalled' | 'removed';

export type WatcherState =
  | { phase: 'empty'; cause: RelistCause }
  | {
      phase: 'listing';
      cause: RelistCause;
      continueToken: string;
      /**
       * The names listed so far by this pass. Appended to in place by the next page's step (a
       * stepped state is never used again): copying it per page was O(pages × names) — at
       * 100,000 pods in ~900 pages of ~1 MB, 45 million copies and ~360 MB of large-object garbage.
       */
      nsNames: NsName[];
    }
  | { phase: 'listed'; resourceVersion: string }
  | { phase: 'watching'; resourceVersion: string };

export const INITIAL_STATE: WatcherState = { phase: 'empty', cause: 'initial' };

export type WatcherRequest =
  | { type: 'list'; limit: number; continueToken?: string }
  | {
      type: 'watch';
      resourceVersion: string;
      timeoutSeconds: number;
      allowWatchBookmarks: true;
    };

export type WatchEndReason =
  /** The server ended the response (its timeout): resume from the last resourceVersion. */
  | 'clean'
  /** Nothing arrived for longer than the watch timeout plus a margin: treated as ended. */
  | 'idle'
  /** The connection broke mid-stream. */
  | 'dropped'
  /**
   * Ended cleanly within a second without a single line: client-go's reflector calls this a
   * "very short watch" (VeryShortWatchError) and backs off instead of re-watching at once, so a
   * proxy or server that ends every watch at once is not hammered in a tight loop.
   */
  | 'short';

export type WatcherInput =
  | { type: 'listPage'; items: readonly unknown[]; resourceVersion: string; continueToken?: string }
  | { type: 'listFailed'; status?: number; retryAfterMs?: number; message: string }
  | { type: 'watchOpened' }
  | { type: 'watchFailed'; status?: number; retryAfterMs?: number; message: string }
  | { type: 'watchLine'; line: string }
  | { type: 'watchEnded'; reason: WatchEndReason; message?: string }
  /** Delivery gave up waiting for queue room: the change in hand was dropped, relist later. */
  | { type: 'stalled' };

export type WatcherOutput =
  /** A (re)list started (first page requested successfully): for relist metrics. */
  | { type: 'listStarted'; cause: RelistCause }
  /**
   * `resumed`: listed again after the previous pass's continue token expired; objects whose spec
   * is what that pass already queued need not be sent again.
   */
  | { type: 'applied'; object: KubeObject; listed: boolean; resumed?: boolean }
  | { type: 'deleted'; object: KubeObject }
  /** The list is complete: these are all live objects of the kind, sorted byte-wise. */
  | { type: 'relisted'; nsNames: NsName[]; resourceVersion: string }
  /** A watch event the forwarder saw (for metrics), after its effects above. */
  | { type: 'event'; eventType: WatchEventType }
  | { type: 'unparsable'; line: string; reason: string };

export interface Failure {
  reason: string;
  status?: number;
  retryAfterMs?: number;
}

export interface StepResult {
  state: WatcherState;
  outputs: WatcherOutput[];
  /** Set when the input was a failure: wait (backoff) before the next request. */
  failure?: Failure;
}

/** The request the runner makes next in `state`. */
export function nextRequest(state: WatcherState, options: WatcherOptions): WatcherRequest {
  switch (state.phase) {
    case 'empty':
      return { type: 'list', limit: options.pageLimit };
    case 'listing':
      return { type: 'list', limit: options.pageLimit, continueToken: state.continueToken };
    case 'listed':
    case 'watching':
      return {
        type: 'watch',
        resourceVersion: state.resourceVersion,
        timeoutSeconds: options.watchTimeoutSec,
        allowWatchBookmarks: true,
      };
  }
}

export function step(state: WatcherState, input: WatcherInput, options: WatcherOptions): StepResult {
  switch (input.type) {
    case 'listPage':
      return onListPage(state, input, options);
    case 'listFailed':
      if (state.phase !== 'empty' && state.phase !== 'listing') return { state, outputs: [] };
      if (input.status === 410) {
        // The continue token's snapshot was compacted: start the list over (apiserver returns
        // 410 ResourceExpired for an expired continue token). client-go's pager falls back to one
        // unpaged list here (FullListIfExpired), which for 100,000 pods is a response of a GB;
        // a new paged pass instead, which skips what the expired pass already sent (`resumed`)
        // and so finishes in fetch time rather than delivery time.
        return {
          state: { phase: 'empty', cause: state.phase === 'listing' ? 'expired' : state.cause },
          outputs: [],
          failure: { reason: `list: ${input.message}`, status: 410 },
        };
      }
      return { state, outputs: [], failure: failureOf('list', input) };
    case 'watchOpened':
      if (state.phase !== 'listed') return { state, outputs: [] };
      return { state: { phase: 'watching', resourceVersion: state.resourceVersion }, outputs: [] };
    case 'watchFailed':
      if (state.phase !== 'listed' && state.phase !== 'watching') return { state, outputs: [] };
      if (input.status === 410) {
        return {
          state: { phase: 'empty', cause: 'gone' },
          outputs: [],
          failure: { reason: `watch: ${input.message}`, status: 410 },
        };
      }
      return {
        state: { phase: 'listed', resourceVersion: state.resourceVersion },
        outputs: [],
        failure: failureOf('watch', input),
      };
    case 'watchLine':
      if (state.phase !== 'watching') return { state, outputs: [] };
      return onWatchLine(state, input.line, options);
    case 'watchEnded': {
      if (state.phase !== 'watching') return { state, outputs: [] };
      const next: WatcherState = { phase: 'listed', resourceVersion: state.resourceVersion };
      if (input.reason === 'clean') return { state: next, outputs: [] };
      return {
        state: next,
        outputs: [],
        failure: { reason: `watch ${input.reason}${input.message ? `: ${input.message}` : ''}` },
      };
    }
    case 'stalled':
      return { state: { phase: 'empty', cause: 'stalled' }, outputs: [] };
  }
}

function failureOf(
  op: 'list' | 'watch',
  input: { status?: number; retryAfterMs?: number; message: string },
): Failure {
  const failure: Failure = { reason: `${op}: ${input.message}` };
  if (input.status !== undefined) failure.status = input.status;
  if (input.retryAfterMs !== undefined) failure.retryAfterMs = input.retryAfterMs;
  return failure;
}

function onListPage(
  state: WatcherState,
  input: Extract<WatcherInput, { type: 'listPage' }>,
  options: WatcherOptions,
): StepResult {
  if (state.phase !== 'empty' && state.phase !== 'listing') return { state, outputs: [] };
  const outputs: WatcherOutput[] = [];
  const cause = state.cause;
  if (state.phase === 'empty') outputs.push({ type: 'listStarted', cause });
  const nsNames: NsName[] = [];
  for (const item of input.items) {
    const object = asKubeObject(item);
    if (!object) {
      outputs.push({
        type: 'unparsable',
        line: truncate(JSON.stringify(item)),
        reason: 'list item without metadata.name',
      });
      continue;
    }
    // List items carry no apiVersion/kind (the list has them); a watch event's object does.
    const full: KubeObject = { ...object, apiVersion: options.apiVersion, kind: options.kind };
    outputs.push(
      cause === 'expired'
        ? { type: 'applied', object: full, listed: true, resumed: true }
        : { type: 'applied', object: full, listed: true },
    );
    nsNames.push(nsNameOf(full));
  }
  let known = nsNames;
  if (state.phase === 'listing') {
    known = state.nsNames;
    for (const n of nsNames) known.push(n);
  }
  if (input.continueToken) {
    return {
      state: { phase: 'listing', cause, continueToken: input.continueToken, nsNames: known },
      outputs,
    };
  }
  outputs.push({ type: 'relisted', nsNames: sortNsNames(known), resourceVersion: input.resourceVersion });
  return { state: { phase: 'listed', resourceVersion: input.resourceVersion }, outputs };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export type ParsedLine =
  | { ok: true; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject }
  | { ok: true; type: 'BOOKMARK'; resourceVersion: string }
  | { ok: true; type: 'ERROR'; code: number | undefined; reason: string | undefined; message: string }
  | { ok: false; reason: string };

/** One line of a watch response: `{"type": …, "object": …}` (meta/v1 WatchEvent). */
export function parseWatchLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (!isRecord(value)) return { ok: false, reason: 'not a JSON object' };
  const { type, object } = value;
  switch (type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED': {
      const obj = asKubeObject(object);
      if (!obj) return { ok: false, reason: `${type} event without an object with metadata.name` };
      return { ok: true, type, object: obj };
    }
    case 'BOOKMARK': {
      const rv = isRecord(object) && isRecord(object.metadata) ? object.metadata.resourceVersion : undefined;
      if (typeof rv !== 'string' || rv === '')
        return { ok: false, reason: 'BOOKMARK without metadata.resourceVersion' };
      return { ok: true, type, resourceVersion: rv };
    }
    case 'ERROR': {
      // The object is a meta/v1 Status.
      const status = isRecord(object) ? object : {};
      return {
        ok: true,
        type,
        code: typeof status.code === 'number' ? status.code : undefined,
        reason: typeof status.reason === 'string' ? status.reason : undefined,
        message: typeof status.message === 'string' ? status.message : 'watch ERROR event',
      };
    }
    default:
      return { ok: false, reason: `unknown watch event type ${JSON.stringify(type)}` };
  }
}

function onWatchLine(
  state: Extract<WatcherState, { phase: 'watching' }>,
  line: string,
  options: WatcherOptions,
): StepResult {
  // Blank lines carry nothing (some proxies add keep-alive newlines): not an event, not an error.
  if (line.trim() === '') return { state, outputs: [] };
  const parsed = parseWatchLine(line);
  if (!parsed.ok) {
    return {
      state: { phase: 'empty', cause: 'unparsable' },
      outputs: [{ type: 'unparsable', line: truncate(line), reason: parsed.reason }],
      failure: { reason: `unparsable watch line: ${parsed.reason}` },
    };
  }
  switch (parsed.type) {
    case 'BOOKMARK':
      return {
        state: { phase: 'watching', resourceVersion: parsed.resourceVersion },
        outputs: [{ type: 'event', eventType: 'BOOKMARK' }],
      };
    case 'ERROR': {
      const outputs: WatcherOutput[] = [{ type: 'event', eventType: 'ERROR' }];
      // Older apiservers said "Expired"/"Gone" with other codes before settling on 410.
      if (parsed.code === 410 || parsed.reason === 'Expired' || parsed.reason === 'Gone') {
        return {
          state: { phase: 'empty', cause: 'gone' },
          outputs,
          failure: { reason: `watch: ${parsed.message}`, status: 410 },
        };
      }
      const failure: Failure = { reason: `watch ERROR event: ${parsed.message}` };
      if (parsed.code !== undefined) failure.status = parsed.code;
      return { state: { phase: 'listed', resourceVersion: state.resourceVersion }, outputs, failure };
    }
    default: {
      const rv = parsed.object.metadata.resourceVersion;
      const resourceVersion = typeof rv === 'string' && rv !== '' ? rv : state.resourceVersion;
      // A watch event's object names its apiVersion and kind (a list item does not): taken as it
      // is then, rather than copied per event (garbage for every watch event's scavenges).
      const given = parsed.object;
      const object: KubeObject =
        given.apiVersion === options.apiVersion && given.kind === options.kind
          ? given
          : { ...given, apiVersion: options.apiVersion, kind: options.kind };
      const change: WatcherOutput =
        parsed.type === 'DELETED' ? { type: 'deleted', object } : { type: 'applied', object, listed: false };
      return {
        state: { phase: 'watching', resourceVersion },
        outputs: [change, { type: 'event', eventType: parsed.type }],
      };
    }
  }
}

function asKubeObject(value: unknown): KubeObject | undefined {
  if (!isRecord(value) || !isRecord(value.metadata)) return undefined;
  if (typeof value.metadata.name !== 'string' || value.metadata.name === '') return undefined;
  return value as unknown as KubeObject;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const MAX_LOGGED_LINE = 512;

function truncate(line: string): string {
  return line.length <= MAX_LOGGED_LINE ? line : `${line.slice(0, MAX_LOGGED_LINE)}…(${line.length} chars)`;
}
