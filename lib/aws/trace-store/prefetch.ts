/**
 * Query pages fetched ahead of their consumer. A Query returns at most 1 MB per page and the next
 * page can only be asked for with the previous page's LastEvaluatedKey, so a reader that waits
 * for each page before working on it leaves the network idle while it decodes, and its CPU idle
 * while it waits. Each shard's Query runs here in its own loop, `depth` pages ahead, the pages
 * turned into records (`map`: bodies decoded) as they arrive, while the consumer works on earlier
 * ones: decoding is done in the gaps of the I/O, off the consumer's path.
 */
import type { Item } from './io.ts';

export class PagePrefetch<T> {
  readonly #buffer: T[][] = [];
  readonly #depth: number;
  #done = false;
  #closed = false;
  #failure: { err: unknown } | undefined;
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;

  constructor(pages: AsyncIterable<Item[]>, map: (items: Item[]) => T[] | Promise<T[]>, depth: number) {
    this.#depth = Math.max(1, depth);
    void this.#run(pages, map);
  }

  async #run(pages: AsyncIterable<Item[]>, map: (items: Item[]) => T[] | Promise<T[]>): Promise<void> {
    try {
      for await (const page of pages) {
        if (this.#closed) return;
        this.#buffer.push(await map(page));
        this.#wake();
        while (this.#buffer.length >= this.#depth && !this.#closed) {
          await new Promise<void>((resolve) => {
            this.#wakeProducer = resolve;
          });
        }
        if (this.#closed) return;
      }
    } catch (err) {
      this.#failure = { err };
    } finally {
      this.#done = true;
      this.#wake();
    }
  }

  #wake(): void {
    const wake = this.#wakeConsumer;
    this.#wakeConsumer = undefined;
    wake?.();
  }

  /** The next page's records, or undefined after the last; throws the Query's failure. */
  async next(): Promise<T[] | undefined> {
    while (this.#buffer.length === 0 && !this.#done) {
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve;
      });
    }
    const page = this.#buffer.shift();
    const wake = this.#wakeProducer;
    this.#wakeProducer = undefined;
    wake?.();
    if (page) return page;
    if (this.#failure) throw this.#failure.err;
    return undefined;
  }

  /** Stops fetching (the consumer gave up early). */
  close(): void {
    this.#closed = true;
    const wake = this.#wakeProducer;
    this.#wakeProducer = undefined;
    wake?.();
  }
}
