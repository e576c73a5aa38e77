// --sticky: which worker a connection goes to when every connection from
// one client address must reach the same worker. socket.io's long-polling
// sends each poll as its own HTTP request, often on a new connection, and
// only the worker that made the session knows it ("Session ID unknown"
// anywhere else). @socket.io/sticky routes by the session id it reads in
// the request; the primary cannot read requests (with --backend https it
// sees only TLS records, and it hands connections over unread), so it keys
// on what it knows at accept time: the peer address, as nginx's ip_hash does.
//
// The key picks a slot, not a worker: a worker that replaces another (a
// reload, a crash) takes over its slot's clients, and a reload swaps a
// serving worker for a serving one, so then a slot never goes without. A
// busy worker keeps its clients (the least-pending choice of the default
// mode would pass it over): that is what sticking means.

/** IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d: one client, one key, whatever socket it came in on. */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * 32-bit FNV-1a, then murmur3's finaliser: fast and without allocation.
 * FNV alone keeps the low bits of the characters in its low bits (it
 * multiplies by an odd number), so modulo 2 or 4 workers 10.0.0.1, .3, .5...
 * would all share one; the finaliser spreads every bit over the others.
 */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * The slot for a client: its home slot (hash modulo the slot count) when
 * that slot's worker is ready; else the next ready slot after it, so that
 * all of one client's connections still meet in one place. -1: no worker
 * is ready (the caller holds the connection until one is).
 *
 * Why not hold the connection for the home slot's own worker: it is empty
 * only after its worker died (a crash, a kill for silence), and the
 * sessions died with it, so its clients must start new ones anyway. A
 * failing slot retries for up to 10 s at a time, maybe for ever; its
 * clients are better served by a neighbour at once. They come back home
 * (and reconnect once more) when the slot serves again.
 *
 * `offset` moves the search on, for a retry after the chosen worker turned
 * out to be gone before its state said so.
 */
export function stickySlot(hash: number, ready: readonly boolean[], offset = 0): number {
  const count = ready.length;
  for (let step = 0; step < count; step++) {
    const slot = (hash + offset + step) % count;
    if (ready[slot]) return slot;
  }
  return -1;
}
