/**
 * A trace named on the command line: a file, or an http(s) URL (a signed export URL needs no
 * token; the download is the trace itself).
 */
import { SktraceError } from '../errors.ts';
import { decodeTraceBytes } from '../trace/codec.ts';
import { loadTraceFile, type TraceFile } from '../trace/codec-file.ts';
import { TraceFormatError } from '../trace/errors.ts';

export async function loadTraceSource(source: string): Promise<TraceFile> {
  if (!/^https?:\/\//i.test(source)) return loadTraceFile(source);
  let bytes: Uint8Array;
  try {
    const res = await fetch(source);
    if (!res.ok) {
      throw new SktraceError(
        'download_failed',
        `cannot download the trace: ${res.status} ${res.statusText}`,
        {
          status: res.status,
        },
      );
    }
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    if (err instanceof SktraceError) throw err;
    throw new SktraceError(
      'download_failed',
      `cannot download the trace: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
  const shown = source.replace(/\?.*$/, '?…');
  try {
    return { path: shown, bytes, ...decodeTraceBytes(bytes) };
  } catch (err) {
    if (err instanceof TraceFormatError)
      throw new TraceFormatError(`${shown}: ${err.message}`, err.context, { cause: err });
    throw err;
  }
}
