/**
 * A trace named on the command line: a file, or an http(s) URL (a signed export URL needs no
 * token; the download is the trace itself).
 */
import { SktraceError } from '../errors.ts';
import { decodeTraceBytes } from '../trace/codec.ts';
import { loadTraceFile, type TraceFile } from '../trace/codec-file.ts';
import { TraceFormatError } from '../trace/errors.ts';
import { ApiClient, ApiError } from './client.ts';

export async function loadTraceSource(source: string): Promise<TraceFile> {
  if (!/^https?:\/\//i.test(source)) return loadTraceFile(source);
  let bytes: Uint8Array;
  try {
    // The API client's download: retries what a retry can fix (connection errors, 429, 5xx) and
    // reads S3's XML errors (an expired signature says so).
    bytes = await new ApiClient({ endpoint: new URL(source).origin }).download(source);
  } catch (err) {
    const why =
      err instanceof ApiError ? err.message.replace(/^download of the export: /, '') : (err as Error).message;
    throw new SktraceError(
      'download_failed',
      `cannot download the trace: ${why}`,
      err instanceof ApiError ? { status: err.status } : {},
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
