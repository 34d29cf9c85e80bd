/**
 * An object read from storage whose trace bytes are already made: a stored body transcoded from
 * its JSON straight to msgpack (lib/store/json-msgpack.ts) instead of parsed and encoded again.
 * It carries, as plain fields, only what an export reads of an object — `apiVersion`, `kind`,
 * `metadata`, and the parts validation follows (lib/export/object-reads.ts) — so it stands for the
 * object in assembly and validation; the trace encoder writes its bytes as they are
 * (lib/trace/codec.ts), and whatever needs the whole object (the index's spec hash) asks for it.
 */
import type { KubeObject, ObjectMeta } from './model.ts';

export abstract class EncodedObject implements KubeObject {
  declare apiVersion: string;
  declare kind: string;
  declare metadata: ObjectMeta;
  [field: string]: unknown;

  /**
   * The object's msgpack bytes, as the trace encoder writes the whole object, handed over once;
   * undefined after that, when the encoder writes `fullObject()` instead. (An implementation may
   * keep them for `specHashFromBytes`: an exported object stays referenced for the index.)
   */
  abstract takeMsgpack(): Uint8Array | undefined;

  /** The length of the bytes `takeMsgpack` would hand over (undefined once taken), without taking them. */
  abstract msgpackLength(): number | undefined;

  /** The whole object, decoded again from storage (when its spec hash cannot come from its bytes). */
  abstract fullObject(): KubeObject;

  /**
   * The object's spec hash computed from its trace bytes (lib/trace/msgpack-hash.ts), with no JS
   * object built; undefined when only `fullObject()` can tell (the caller hashes its spec then).
   */
  specHashFromBytes(): bigint | undefined {
    return undefined;
  }
}

/** The whole object behind `obj`. */
export function wholeObject(obj: KubeObject): KubeObject {
  return obj instanceof EncodedObject ? obj.fullObject() : obj;
}
