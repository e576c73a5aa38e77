// @ts-check
// The bench's arithmetic: medians and percentiles, CPU time per request,
// ratios against a goal, and the access log's lines-per-request check.

/**
 * The median; NaN for no values.
 * @param {number[]} values
 * @returns {number}
 */
export function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const upper = sorted[mid] ?? NaN;
  return sorted.length % 2 ? upper : ((sorted[mid - 1] ?? NaN) + upper) / 2;
}

/**
 * The nearest-rank percentile: the smallest value that at least a fraction
 * q of the values do not exceed (q = 0.99: p99); NaN for no values.
 * @param {number[]} values
 * @param {number} q between 0 (exclusive) and 1
 * @returns {number}
 */
export function nearestRank(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1))] ?? NaN;
}

/**
 * Microseconds of CPU per request from clock ticks (1/100 s, USER_HZ on
 * Linux, so 10 000 us each); NaN when no request was counted.
 * @param {number} ticks
 * @param {number | null} requests
 * @returns {number}
 */
export function cpuUsPerRequest(ticks, requests) {
  return requests ? (ticks * 10_000) / requests : NaN;
}

/**
 * Whether a ratio meets its goal.
 * @param {{ op: '>=' | '<=', ratio: number }} goal
 * @param {number} ratio
 */
export function meetsGoal(goal, ratio) {
  return goal.op === '>=' ? ratio >= goal.ratio : ratio <= goal.ratio;
}

/**
 * One metric of a comparison: the medians of both servers' samples, their
 * ratio subject / reference, the goal as text ('>= 0.97') and whether it is
 * met (null: no goal, reported only).
 * @param {number[]} referenceValues
 * @param {number[]} subjectValues
 * @param {{ op: '>=' | '<=', ratio: number } | undefined} goal
 */
export function compareMedians(referenceValues, subjectValues, goal) {
  const reference = median(referenceValues);
  const subject = median(subjectValues);
  const ratio = subject / reference;
  return { reference, subject, ratio, goal: goal ? `${goal.op} ${goal.ratio}` : null, ok: goal ? meetsGoal(goal, ratio) : null };
}

/**
 * One server's values of a field, from samples of several servers.
 * @template {string} K
 * @param {({ server: string } & Record<K, number>)[]} samples
 * @param {string} server
 * @param {K} key
 * @returns {number[]}
 */
export function valuesOf(samples, server, key) {
  return samples.filter((s) => s.server === server).map((s) => s[key]);
}

/**
 * The access log check of one instance: lines that name a served request
 * per request counted. wrk counts only completed responses, so a few more
 * lines than requests are fine: 0.98 to 1.02 lines per request, or no line
 * at all when the access log is off.
 * @param {number} lines
 * @param {number} requests
 * @param {boolean} expectLines
 */
export function accessLogCheck(lines, requests, expectLines) {
  const ratio = requests ? lines / requests : NaN;
  const ok = expectLines ? ratio >= 0.98 && ratio <= 1.02 : lines === 0;
  return { lines, requests, ratio, ok };
}

/** @typedef {{ requests: number, connections: number }} Counts */
/** @typedef {{ pid: number } & Counts} ProcessCounts */

/**
 * What each process served during a run: its counts after minus before (a
 * process without counts before started during the run, from 0). Busiest
 * first.
 * @param {Map<number, Counts>} before
 * @param {Map<number, Counts>} after
 * @returns {ProcessCounts[]}
 */
export function countsDelta(before, after) {
  const delta = [];
  for (const [pid, now] of after) {
    const then = before.get(pid) ?? { requests: 0, connections: 0 };
    delta.push({ pid, requests: now.requests - then.requests, connections: now.connections - then.connections });
  }
  return delta.sort((a, b) => b.requests - a.requests || a.pid - b.pid);
}

/**
 * How the processes split a run: each one's share of the requests and of
 * the connections, busiest first, as text ("75/25"), and the busiest
 * process's share of the requests (1 for one process; NaN when nothing
 * was served). Processes that served nothing count (as 0).
 * @param {ProcessCounts[]} processes busiest first
 */
export function splitOf(processes) {
  const total = (/** @type {'requests' | 'connections'} */ key) => processes.reduce((sum, p) => sum + p[key], 0);
  const [requests, connections] = [total('requests'), total('connections')];
  const percent = (/** @type {number} */ part, /** @type {number} */ whole) => (whole ? Math.round((100 * part) / whole) : NaN);
  const byConnections = [...processes].sort((a, b) => b.connections - a.connections);
  return {
    requests: processes.map((p) => percent(p.requests, requests)).join('/'),
    connections: byConnections.map((p) => percent(p.connections, connections)).join('/'),
    busiestShare: requests ? (processes[0]?.requests ?? 0) / requests : NaN,
  };
}
