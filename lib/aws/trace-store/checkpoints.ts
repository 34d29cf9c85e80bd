/**
 * Checkpoints of the live set, so a live set at `atTs` reads one checkpoint plus the changes after
 * it instead of the whole history (which retention may also have expired: a Deployment created a
 * year ago and never changed has no event left, only its state item).
 *
 * A checkpoint is built from the state items (which hold every live object's current body and never
 * expire), kind by kind, while ingest goes on: a "fuzzy" snapshot. Started at W, it is exact for
 * any `atTs >= validFromTs` when replayed with every change from `replayFromTs = W − lateMarginSec
 * − maxBatchSec` on: any change the snapshot missed arrived after W, so (not being late) its ts is
 * at least W − lateMarginSec − the time its batch took. Replaying a change the snapshot already
 * holds is harmless (it rewrites the same version; replay passes through every later change of that
 * object too, since `validFromTs` is after the newest state read). `validFromTs` is one second
 * past the newest change among the states read.
 *
 * Late batches (older than the margin: imports, long outages) are recorded in the cluster's
 * metadata; a checkpoint that one of them may have missed is skipped.
 */
import {
  type CheckpointObject,
  decodeCheckpointObjects,
  encodeBinaryBody,
  encodeBody,
  sha256Hex,
} from '../../store/body-codec.ts';
import { encodeCheckpointMsgpack } from '../../store/checkpoint-body.ts';
import { StoreError } from '../../store/errors.ts';
import { checkpointBlobKey, checkpointPk, padTs, statePk } from '../../store/keys.ts';
import type {
  BlobStore,
  ChangeReadOptions,
  CheckpointInfo,
  ClusterId,
  LiveSet,
  ReadMeter,
} from '../../store/ports.ts';
import { expiresAtSec } from '../../store/rules.ts';
import { refOf } from '../../trace/gvk.ts';
import type { ObjectChange } from '../../trace/model.ts';
import { objKey } from '../../trace/model.ts';
import { refreshDue } from './bodies.ts';
import type { StoreContext } from './context.ts';
import { isExpired, n, num, parseStateItem, s, str } from './items.ts';
import { readHorizon, readKinds, readLateBatches } from './meta.ts';
import type { TraceReaderCore } from './reader.ts';
import {
  decodeLive,
  mergedVersions,
  type StoredVersion,
  storedBodyDigest,
  storedVersionsOf,
} from './replay.ts';

interface CheckpointBody {
  v: 1;
  cluster: ClusterId;
  validFromTs: number;
  replayFromTs: number;
  objects: { ts: number; o: ObjectChange['object']; w: ObjectChange['owners'] }[];
}

/**
 * How checkpoints are written: `msgpack` (version 3, lib/store/checkpoint-body.ts: each object as
 * its trace bytes, which an export copies, with its stored body's digest), `msgpack2` (version 2,
 * without the digests, as on 2026-12-06) or `json` (version 1, as before 2026-12-06); the older
 * two for tests and for recognising a bench seed cache written then. All three are read.
 */
export type CheckpointFormat = 'json' | 'msgpack2' | 'msgpack';

export class Checkpoints {
  readonly #ctx: StoreContext;
  readonly #blobs: BlobStore;
  readonly #reader: TraceReaderCore;
  readonly #format: CheckpointFormat;

  constructor(
    ctx: StoreContext,
    blobs: BlobStore,
    reader: TraceReaderCore,
    format: CheckpointFormat = 'msgpack',
  ) {
    this.#ctx = ctx;
    this.#blobs = blobs;
    this.#reader = reader;
    this.#format = format;
  }

  async writeCheckpoint(
    cluster: ClusterId,
    options: { nowSec: number },
    meter: ReadMeter = { readUnits: 0 },
  ) {
    const { settings, io, bodies } = this.#ctx;
    const builtAtSec = options.nowSec;
    const replayFromTs = builtAtSec - settings.lateMarginSec - settings.maxBatchSec;
    let newestTs = -1;
    const objects: CheckpointObject[] = [];
    for (const gvk of await readKinds(this.#ctx, cluster, meter)) {
      for await (const item of io.query(
        {
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s(statePk(cluster, gvk)) },
        },
        meter,
      )) {
        const state = parseStateItem(item, gvk);
        newestTs = Math.max(newestTs, state.ts);
        if (!state.live || !state.body) continue;
        const payload = await bodies.loadPayload(cluster, state.body, {
          touch: refreshDue(state.ts, builtAtSec),
        });
        objects.push({ ts: state.ts, digest: storedBodyDigest(state.body), o: payload.o, w: payload.w });
      }
    }
    const validFromTs = Math.max(newestTs + 1, replayFromTs);
    const packed =
      this.#format === 'json'
        ? undefined
        : encodeCheckpointMsgpack(
            { cluster, validFromTs, replayFromTs },
            objects,
            this.#format === 'msgpack2' ? 2 : 3,
          );
    // v1 when asked for, or when an object holds what v2/v3 cannot carry (a lone surrogate).
    const bytes =
      packed !== undefined
        ? encodeBinaryBody(packed)
        : encodeBody({
            v: 1,
            cluster,
            validFromTs,
            replayFromTs,
            objects: objects.map(({ ts, o, w }) => ({ ts, o, w })),
          } satisfies CheckpointBody);
    const blobKey = checkpointBlobKey(cluster, validFromTs, sha256Hex(bytes));
    await this.#blobs.put(blobKey, bytes);
    await io.put(
      {
        pk: s(checkpointPk(cluster)),
        sk: s(padTs(validFromTs)),
        replayFromTs: n(replayFromTs),
        builtAtSec: n(builtAtSec),
        objects: n(objects.length),
        blobKey: s(blobKey),
        // Useless once the changes after replayFromTs have expired.
        expiresAtSec: n(expiresAtSec(replayFromTs, builtAtSec, settings.retentionDays)),
      },
      undefined,
      { readUnits: 0 },
    );
    const info: CheckpointInfo = { cluster, validFromTs, replayFromTs, objects: objects.length, blobKey };
    return info;
  }

  async latestCheckpointAtOrBefore(
    cluster: ClusterId,
    atTs: number,
    meter: ReadMeter,
  ): Promise<CheckpointInfo | undefined> {
    const nowSec = this.#ctx.nowSec();
    let lates: { ingestSec: number; minTs: number }[] | undefined;
    for await (const item of this.#ctx.io.query(
      {
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: {
          ':pk': s(checkpointPk(cluster)),
          ':lo': s(padTs(0)),
          ':hi': s(padTs(atTs)),
        },
        ScanIndexForward: false,
      },
      meter,
    )) {
      if (isExpired(item, nowSec)) continue;
      const replayFromTs = num(item, 'replayFromTs') ?? 0;
      const builtAtSec = num(item, 'builtAtSec') ?? 0;
      // A late batch that was still being applied when the snapshot began, or arrived after, and
      // held changes older than the replay start, may be missing from it.
      const since = builtAtSec - this.#ctx.settings.maxBatchSec;
      lates ??= await readLateBatches(this.#ctx, cluster, since, meter);
      if (lates.some((l) => l.ingestSec >= since && l.minTs < replayFromTs)) continue;
      return {
        cluster,
        validFromTs: Number(str(item, 'sk')),
        replayFromTs,
        objects: num(item, 'objects') ?? 0,
        blobKey: str(item, 'blobKey') ?? '',
      };
    }
    return undefined;
  }

  /**
   * The objects alive at `atTs`: the newest usable checkpoint, then the changes from its replay
   * start up to `atTs`; without one, the whole history from the cluster's first change. Incomplete
   * when the changes it needs start before the retention horizon. With `encodedObjects`, the
   * checkpoint's objects and the replay's last versions are transcoded (EncodedObjects, as the
   * window's changes are read: lib/store/json-msgpack.ts), each falling back to the object path
   * where the transcoder refuses.
   */
  async liveAt(
    cluster: ClusterId,
    atTs: number,
    meter: ReadMeter,
    options: ChangeReadOptions = {},
  ): Promise<LiveSet> {
    // The horizon and the checkpoint's item together, then the checkpoint's download and the
    // replay's first pages together: each was a round trip ahead of the next (the export's fixed
    // cost, docs/benchmarks.md "export").
    const checkpointRead = this.latestCheckpointAtOrBefore(cluster, atTs, meter);
    checkpointRead.catch(() => undefined);
    const horizon = await readHorizon(this.#ctx, cluster, meter);
    if (horizon.firstTs === undefined) {
      await checkpointRead;
      return { atTs, objects: [], complete: true };
    }
    // Key → the object's current version: a checkpoint object (decoded), or a replayed version
    // whose body stays as stored until the replay is over (replay.ts): a superseded version is never
    // inflated, parsed or downloaded. A Map, applied in the export's order, as changes always were:
    // its order (re-creations last) is the live set's order. `replaced`: the checkpoint objects
    // the replay replaced or deleted, by key, so a last version whose body the checkpoint holds
    // takes the checkpoint's decoded copy (replay.ts `decodeLive`).
    const live = new Map<string, CheckpointObject | StoredVersion>();
    const replaced = new Map<string, CheckpointObject>();
    const checkpoint = await checkpointRead;
    const replayFromTs = checkpoint ? checkpoint.replayFromTs : horizon.firstTs;
    const replay = mergedVersions(
      this.#reader.eventSources(cluster, replayFromTs, atTs, meter, storedVersionsOf),
    );
    const firstReplay = replay.next();
    firstReplay.catch(() => undefined);
    try {
      if (checkpoint) {
        const bytes = await this.#blobs.get(checkpoint.blobKey);
        if (bytes === undefined) {
          throw new StoreError(
            'store_blob_missing',
            `checkpoint ${checkpoint.blobKey} is missing from the blob store`,
            {
              key: checkpoint.blobKey,
            },
          );
        }
        checkBlobDigest(checkpoint.blobKey, bytes);
        // The plan comes with the config, read meanwhile (lib/export/pipeline.ts).
        const plan = await options.encodedObjects;
        for (const o of decodeCheckpointObjects(bytes, 'd1', plan)) live.set(objKey(refOf(o.o)), o);
      }
      for (let next = await firstReplay; !next.done; next = await replay.next()) {
        for (const version of next.value) {
          // The event's key is its object's (writer.ts builds it from gvkOf/nsNameOf of the body).
          const key = `${version.gvk} ${version.nsName}`;
          const was = live.get(key);
          if (was !== undefined && !('body' in was)) replaced.set(key, was);
          if (version.type === 'applied') live.set(key, version);
          else live.delete(key);
        }
      }
    } catch (err) {
      replay.return(undefined).catch(() => undefined);
      throw err;
    }
    const objects = await decodeLive(live, replaced, cluster, this.#ctx.bodies, await options.encodedObjects);
    const complete =
      horizon.horizonTs === undefined || Math.max(replayFromTs, horizon.firstTs) >= horizon.horizonTs;
    return {
      atTs,
      objects,
      complete,
      ...(checkpoint ? { checkpointTs: checkpoint.validFromTs } : {}),
    };
  }
}

/**
 * A checkpoint's blob key ends with the first 16 hex digits of its bytes' SHA-256 (keys.ts
 * `checkpointBlobKey`): bytes that do not match were damaged or replaced, and are refused rather
 * than read (raw DEFLATE has no checksum of its own; a changed byte can inflate to other objects).
 * ~1 ms for a 1.2 MB checkpoint.
 */
function checkBlobDigest(blobKey: string, bytes: Uint8Array): void {
  const want = /-([0-9a-f]{16})$/.exec(blobKey)?.[1];
  if (want !== undefined && sha256Hex(bytes).slice(0, 16) !== want) {
    throw new StoreError('store_corrupt_item', `checkpoint ${blobKey} does not match its digest`, {
      key: blobKey,
    });
  }
}
