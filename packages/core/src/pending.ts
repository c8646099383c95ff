/**
 * The calls a runtime has sent and not yet seen answered, in a slab indexed by call id.
 *
 * A call id encodes its slot and that slot's generation: `id = generation * SLOTS + slot`,
 * so a reply finds its call with one array read, and a late or forged reply whose id no
 * longer matches the slot is ignored. Generations count per slot, modulo 512, so ids stay
 * below 2^30: small integers in V8 and 5 bytes in MessagePack, where an id that grew past
 * 2^32 would be a float (9 bytes, and a floating-point modulo per reply). A stale reply
 * could only be mistaken for a newer call if its slot had been reused a multiple of 512
 * times since, by calls to the same node (replies are also checked against the node).
 * A `Map` costs about 100 ns per call for the same work, a tenth of a pipelined remote
 * call's whole budget.
 */

const SLOT_BITS = 21;
/**
 * Most calls in flight at once from one runtime. A shift, not `2 ** SLOT_BITS`: V8 gives
 * `**` a boxed double even for an integral result, and every id computed from it was then
 * a boxed double too, allocated per call, turning each array of ids it went into (the
 * table's, every run's column) into an array of doubles that the codec boxed again per
 * element (a pipelined call cost 250 ns of client JavaScript instead of 190).
 */
const SLOTS = 1 << SLOT_BITS;
const GENERATIONS = 512;

/** A call's resolving functions until its promise's executor stores the real ones. */
function unresolved(): void {
  throw new Error('a pending call settled before its promise was made');
}

/**
 * @internal A call in flight as the runtime records it. A class rather than an object
 * literal: V8 tracks object literals by allocation site and may decide to allocate a
 * site's objects straight in the old generation ("pretenuring") when they looked
 * long-lived, which a run of sequential calls can make them look. A pipelined stream of
 * calls then fills the old generation with dead records (measured: about 40% more CPU per
 * call after 40,000 sequential calls). Instances of a class are never pretenured.
 */
export class PendingCall {
  // Declared, not defined: the constructor's assignments are the only stores (no class
  // field definitions to run first on this hot path).
  declare resolve: (v: unknown) => void;
  declare reject: (e: unknown) => void;
  declare pid: string;
  declare method: string;
  declare args: unknown[];
  declare node: string;
  declare hops: number;

  /** The resolving functions are stored after, by the executor of the call's promise. */
  constructor(pid: string, method: string, args: unknown[], node: string, hops: number) {
    this.resolve = unresolved;
    this.reject = unresolved;
    this.pid = pid;
    this.method = method;
    this.args = args;
    this.node = node;
    this.hops = hops;
  }
}

/** @internal A call in flight: the fields of a {@link PendingCall} (tests write them as literals). */
export type Pending = PendingCall;

/** @internal */
export class PendingTable {
  #calls: Array<Pending | undefined> = [];
  #ids: number[] = [];
  #generations: number[] = [];
  #free: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Stores a call; returns its id. */
  add(p: Pending): number {
    const slot = this.#free.pop() ?? this.#grow();
    const generation = (this.#generations[slot]! + 1) % GENERATIONS;
    this.#generations[slot] = generation;
    const id = generation * SLOTS + slot;
    this.#calls[slot] = p;
    this.#ids[slot] = id;
    this.#size++;
    return id;
  }

  /** The call with this id, if it is still in flight. */
  get(id: number): Pending | undefined {
    const slot = id & (SLOTS - 1);
    return this.#ids[slot] === id ? this.#calls[slot] : undefined;
  }

  /** A new slot, at the end (apart from {@link add} to keep it small: see `Ref.call`). */
  #grow(): number {
    const slot = this.#calls.length;
    if (slot >= SLOTS) throw new RangeError(`more than ${SLOTS} calls in flight from one runtime`);
    this.#calls.push(undefined);
    this.#ids.push(-1);
    this.#generations.push(0);
    return slot;
  }

  /** Removes and returns the call with this id, if it is still in flight. */
  take(id: number): Pending | undefined {
    const slot = id & (SLOTS - 1);
    return this.#ids[slot] === id ? this.#release(slot) : undefined;
  }

  /** Removes and returns the call with this id if it is in flight to `node`. */
  takeFrom(id: number, node: string): Pending | undefined {
    const slot = id & (SLOTS - 1);
    return this.#ids[slot] === id && this.#calls[slot]!.node === node ? this.#release(slot) : undefined;
  }

  /** Frees a slot that holds a call; returns the call. */
  #release(slot: number): Pending {
    const p = this.#calls[slot]!;
    this.#calls[slot] = undefined;
    this.#ids[slot] = -1;
    this.#free.push(slot);
    this.#size--;
    return p;
  }

  /** Every call in flight, with its id. */
  *entries(): IterableIterator<[number, Pending]> {
    for (let slot = 0; slot < this.#calls.length; slot++) {
      const p = this.#calls[slot];
      if (p !== undefined) yield [this.#ids[slot]!, p];
    }
  }
}
