/**
 * The heap a child process really retains: a full GC forced through the V8 inspector protocol
 * (`HeapProfiler.collectGarbage`), then `process.memoryUsage()` read in the child
 * (`Runtime.evaluate`). The child runs with `--inspect=127.0.0.1:0`; no session is attached
 * between measurements, so the inspector costs it nothing meanwhile. RSS and `heapUsed` without
 * it move with when V8 last collected, not with what the process holds.
 */
import { WebSocket } from 'node:http';

export interface ChildMemory {
  heapUsedBytes: number;
  rssBytes: number;
  /** Memory of C++ objects bound to JS ones (Buffers, zlib streams, sockets) outside the V8 heap. */
  externalBytes: number;
}

/** The inspector's WebSocket URL from the child's stderr (`Debugger listening on ws://…`). */
export function inspectorUrlOf(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
}

/** A tiny inspector-protocol client over the WebSocket of `--inspect`. */
export async function inspector(url: string) {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), {
      once: true,
    });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  ws.addEventListener('message', (e) => {
    const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(`inspector: ${msg.error.message}`));
    else p?.resolve(msg.result);
  });
  return {
    call: (method: string, params: Record<string, unknown> = {}) =>
      new Promise<unknown>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

export async function memoryAfterGc(url: string): Promise<ChildMemory> {
  const ins = await inspector(url);
  try {
    await ins.call('HeapProfiler.collectGarbage');
    const evaluated = (await ins.call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result: { value: string } };
    const usage = JSON.parse(evaluated.result.value) as { heapUsed: number; rss: number; external: number };
    return { heapUsedBytes: usage.heapUsed, rssBytes: usage.rss, externalBytes: usage.external };
  } finally {
    ins.close();
  }
}
