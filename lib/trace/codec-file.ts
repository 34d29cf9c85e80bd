/**
 * Reading a trace file from disk, the only I/O of the codec; the codec itself stays pure.
 */
import { readFile } from 'node:fs/promises';
import { decodeTraceBytes, type TraceFileFormat } from './codec.ts';
import { TraceFileError, TraceFormatError } from './errors.ts';
import type { Trace } from './model.ts';

export interface TraceFile {
  path: string;
  bytes: Uint8Array;
  format: TraceFileFormat;
  trace: Trace;
}

/** Reads a trace, msgpack or JSON (chosen by content), with its raw bytes. */
export async function loadTraceFile(path: string): Promise<TraceFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String(err);
    throw new TraceFileError(`cannot read trace ${path}: ${why}`, { path }, { cause: err });
  }
  try {
    return { path, bytes, ...decodeTraceBytes(bytes) };
  } catch (err) {
    if (err instanceof TraceFormatError) {
      throw new TraceFormatError(`${path}: ${err.message}`, { ...err.context, path }, { cause: err });
    }
    throw err;
  }
}

/** Reads a trace file, msgpack or JSON (chosen by content). */
export async function readTraceFile(path: string): Promise<Trace> {
  return (await loadTraceFile(path)).trace;
}
