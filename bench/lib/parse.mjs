// @ts-check
// Parsers of the text the bench reads: the load clients' reports (wrk,
// h2load and h2load's per-request log), a server's /proc/<pid>/stat and
// status, the kernel's TCP tables, and an access log. Text in, numbers out:
// reading the files and running the tools is run.mjs's job.

import { nearestRank } from './stats.mjs';

/**
 * What a load run reports, whichever client ran it.
 * @typedef {object} LoadResult
 * @property {number} rps requests per second
 * @property {number} p99Ms 99th percentile latency
 * @property {number | null} requests wrk: the responses it completed, any status (null: its count line missing);
 *   h2load: those that succeeded (2xx, 3xx)
 * @property {string | null} socketErrors the client's error counts as text, null when none
 * @property {number} non2xx responses counted as failed by status
 */

// wrk's time units (src/units.c): us up to 850 us, then ms, s from 1 s and
// m from 51 s; never h, which costs nothing to accept.
/** @type {Record<string, number>} */
const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * wrk's report (with --latency). Requests/sec is printed without SI prefix
 * (%9.2Lf); the thread stats and Transfer lines have k, M, KB, MB, which are
 * not read. "Socket errors" and "Non-2xx or 3xx responses" (wrk counts
 * status > 399 there) appear only when not zero. Latencies of requests that
 * timed out are not in wrk's histogram: a run where all of them did has a
 * p99 of 0.
 * @param {string} text
 * @returns {LoadResult}
 */
export function parseWrk(text) {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(text);
  if (!rps || !p99) throw new Error(`could not parse wrk output:\n${text}`);
  const requests = /(\d+) requests in/.exec(text);
  const socketErrors = /Socket errors: (.*)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    rps: Number(rps[1]),
    p99Ms: Number(p99[1]) * (UNIT_MS[p99[2] ?? ''] ?? NaN),
    requests: requests ? Number(requests[1]) : null,
    socketErrors: socketErrors ? (socketErrors[1] ?? '').trim() : null,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

/**
 * h2load's report and its --log-file. h2load prints throughput and counts
 * but no percentiles; its log has a line per request (start us, status,
 * duration us; status -1 for a request that errored), from which p99.
 * Throws when the report cannot be read, or when h2load negotiated another
 * application protocol than the one asked for: a TLS server that fell back
 * to HTTP/1.1 would be a different benchmark (and with no connection at all
 * h2load names none).
 * @param {string} text h2load's standard output
 * @param {string} logText the --log-file's content
 * @param {string} protocol 'h2' or 'h2c'
 * @returns {LoadResult}
 */
export function parseH2load(text, logText, protocol) {
  // "finished in" is in us, ms or s (nghttp2's util::format_duration).
  const finished = /^finished in [\d.]+(?:us|ms|s), ([\d.]+) req\/s/m.exec(text);
  const counts = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(text);
  const status = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(text);
  const spoken = /^Application protocol: (\S+)/m.exec(text);
  if (!finished || !counts || !status) throw new Error(`could not parse h2load output:\n${text}`);
  if (spoken?.[1] !== protocol) throw new Error(`h2load spoke ${spoken?.[1] ?? 'nothing'}, expected ${protocol}:\n${text}`);
  const durations = [];
  for (const line of logText.split('\n')) {
    const [, , us] = line.split('\t');
    if (us !== undefined) durations.push(Number(us));
  }
  const [failed, errored, timedOut] = [Number(counts[5]), Number(counts[6]), Number(counts[7])];
  return {
    rps: Number(finished[1]),
    p99Ms: nearestRank(durations, 0.99) / 1000,
    requests: Number(counts[4]),
    socketErrors: failed + errored + timedOut ? `failed ${failed}, errored ${errored}, timeout ${timedOut}` : null,
    non2xx: Number(status[2]) + Number(status[3]) + Number(status[4]),
  };
}

/**
 * The fields of /proc/<pid>/stat after the command name, which is in
 * parentheses and may itself hold spaces and parentheses: field 3 (state)
 * is at index 0.
 * @param {string} text
 */
function statFields(text) {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/**
 * User + system CPU time of a process (all its threads) from its
 * /proc/<pid>/stat, in clock ticks: utime and stime, fields 14 and 15.
 * @param {string} text
 */
export function cpuTicksFromStat(text) {
  const fields = statFields(text);
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * The process group of a process from its /proc/<pid>/stat: field 5.
 * @param {string} text
 */
export function processGroupFromStat(text) {
  return Number(statFields(text)[2]);
}

/**
 * VmRSS from /proc/<pid>/status, in kB; null when the line is missing.
 * @param {string} text
 * @returns {number | null}
 */
export function vmRssKb(text) {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return match ? Number(match[1]) : null;
}

/**
 * A thread's time on a CPU, in nanoseconds: the first field of
 * /proc/<pid>/task/<tid>/schedstat (exact, where /proc/<pid>/stat counts
 * 10 ms ticks).
 * @param {string} text
 * @returns {number | null}
 */
export function cpuNsFromSchedstat(text) {
  const match = /^(\d+) \d+ \d+/.exec(text);
  return match ? Number(match[1]) : null;
}

/**
 * TIME_WAIT entries in /proc/net/tcp or tcp6: state 06, the 4th field.
 * @param {string} text
 */
export function countTimeWait(text) {
  let count = 0;
  for (const line of text.split('\n')) if (line.trim().split(/\s+/, 4)[3] === '06') count++;
  return count;
}

/**
 * The lines of an access log that name a served request: a request line of
 * either format (common, json) names the method and the status.
 * @param {string} text
 */
export function countAccessLines(text) {
  let lines = 0;
  for (const line of text.split('\n')) if (line.includes('GET') && /\b200\b/.test(line)) lines++;
  return lines;
}

/**
 * A counts file of bench/apps/counting.cjs: "REQUESTS CONNECTIONS"; null
 * when it does not hold two counts (a file read while being written).
 * @param {string} text
 * @returns {{ requests: number, connections: number } | null}
 */
export function parseCounts(text) {
  const match = /^(\d+) (\d+)\n?$/.exec(text);
  return match ? { requests: Number(match[1]), connections: Number(match[2]) } : null;
}

/**
 * User + system CPU ticks of every process in a process group, from the
 * /proc/<pid>/stat texts of any processes (those of other groups are
 * skipped): a server of several processes costs what all of them spend.
 * @param {string[]} stats
 * @param {number} group
 */
export function groupCpuTicks(stats, group) {
  let ticks = 0;
  for (const text of stats) if (processGroupFromStat(text) === group) ticks += cpuTicksFromStat(text);
  return ticks;
}
