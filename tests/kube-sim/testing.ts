/**
 * Small HTTP helpers for tests that speak to KubeSim directly (raw fetch), below any client
 * library: authenticated GETs and a raw watch-stream reader that records how the stream ended.
 */
import type { KubeSim } from './server.ts';

export interface RawEvent {
  type: string;
  object: Record<string, unknown> & { metadata?: Record<string, unknown> };
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function getJson<T = Record<string, unknown>>(
  sim: KubeSim,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const res = await fetch(sim.url + path, { headers: { authorization: `Bearer ${sim.token}`, ...headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

/** How a watch stream ended: cleanly (terminating chunk) or with a transport error. */
export type StreamEnd = { kind: 'clean' } | { kind: 'error'; error: Error };

export interface RawWatch {
  status: number;
  headers: Headers;
  events: RawEvent[];
  /** Raw lines as received, for byte-level checks. */
  lines: string[];
  ended: Promise<StreamEnd>;
  /** Resolves once `events.length >= n` (rejects if the stream ends first). */
  waitForEvents(n: number): Promise<RawEvent[]>;
  abort(): void;
}

export async function rawWatch(sim: KubeSim, path: string): Promise<RawWatch> {
  const controller = new AbortController();
  const res = await fetch(sim.url + path, {
    headers: { authorization: `Bearer ${sim.token}` },
    signal: controller.signal,
  });
  const events: RawEvent[] = [];
  const lines: string[] = [];
  const waiters: Array<{ n: number; resolve: (e: RawEvent[]) => void; reject: (e: Error) => void }> = [];
  let endState: StreamEnd | undefined;
  const notify = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (events.length >= w.n) {
        w.resolve(events.slice());
        waiters.splice(i, 1);
      } else if (endState) {
        w.reject(new Error(`watch ended (${endState.kind}) after ${events.length} of ${w.n} events`));
        waiters.splice(i, 1);
      }
    }
  };
  const ended = (async (): Promise<StreamEnd> => {
    if (!res.body) return { kind: 'clean' };
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let at = buffered.indexOf('\n');
        while (at >= 0) {
          const line = buffered.slice(0, at);
          buffered = buffered.slice(at + 1);
          if (line.trim() !== '') {
            lines.push(line);
            events.push(JSON.parse(line) as RawEvent);
          }
          at = buffered.indexOf('\n');
        }
        notify();
      }
      endState = { kind: 'clean' };
    } catch (error) {
      endState = { kind: 'error', error: error as Error };
    }
    notify();
    return endState;
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    lines,
    ended,
    waitForEvents(n: number): Promise<RawEvent[]> {
      return new Promise((resolve, reject) => {
        waiters.push({ n, resolve, reject });
        notify();
      });
    },
    abort: () => controller.abort(),
  };
}

/** Polls `check` until it holds; fails after `timeoutMs` with `what` in the message. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
