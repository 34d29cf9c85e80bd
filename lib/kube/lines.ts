/**
 * Splits a watch response into its lines: the API server writes one JSON WatchEvent per line
 * (`application/json` watch framing), possibly split across or packed into chunks.
 */
import { StringDecoder } from 'node:string_decoder';
import { SktraceError } from '../errors.ts';

/**
 * etcd refuses requests over 1.5 MiB, so no object, and no event line, comes near this; a longer
 * line is a broken stream, not data to buffer without end.
 */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

export async function* splitLines(
  chunks: AsyncIterable<Buffer | string>,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let at = pending.indexOf('\n');
    let from = 0;
    while (at >= 0) {
      yield pending.slice(from, at);
      from = at + 1;
      at = pending.indexOf('\n', from);
    }
    pending = pending.slice(from);
    if (pending.length > maxLineBytes) {
      throw new SktraceError(
        'watch_line_too_long',
        `a watch line exceeds ${maxLineBytes} bytes without a newline`,
        {
          maxLineBytes,
        },
      );
    }
  }
  pending += decoder.end();
  // A last line without newline: the stream ended inside it only if it is incomplete JSON, which
  // the parser reports; a complete one is an event like any other.
  if (pending !== '') yield pending;
}
