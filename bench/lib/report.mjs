// @ts-check
// The bench's report from its measurements: the summary (per comparison,
// per metric: medians, ratio, goal), the text printed per scenario, and the
// scenario's entry in bench/results.json. Measurements in, text and records
// out; printing and writing the file is run.mjs's job.

import { METRICS, MODES } from './scenarios.mjs';
import { compareMedians, median, meetsGoal, valuesOf } from './stats.mjs';

/** @typedef {import('./scenarios.mjs').Mode} Mode */
/** @typedef {import('./scenarios.mjs').Scenario} Scenario */
/** @typedef {ReturnType<typeof import('./stats.mjs').splitOf>} Split */
/**
 * One measured load run; with the counting app, what each process served
 * (busiest first) and the split.
 * @typedef {import('./parse.mjs').LoadResult & { cpuUsPerRequest: number, processes?: import('./stats.mjs').ProcessCounts[], split?: Split }} LoadRun
 */
/** @typedef {{ round: number, server: string } & Partial<Record<Mode, LoadRun>>} Round a server's runs in one round, one per mode of its scenario */
/** @typedef {{ run: number, server: string, ms: number, cpuMs?: number }} ColdStart cpuMs: CPU time of all its threads to the first answer (not in older results) */
/** @typedef {{ run: number, server: string, mb: number }} IdleRss */
/** @typedef {{ round: number, server: string, lines: number, requests: number, ratio: number, ok: boolean }} AccessCheck */
/**
 * A scenario's measurements; cold, rss and timeWait when it has startup.
 * @typedef {object} Measured
 * @property {undefined} [unavailable]
 * @property {Round[]} rounds
 * @property {AccessCheck[]} accessChecks
 * @property {ColdStart[]} [cold]
 * @property {IdleRss[]} [rss]
 * @property {number} [timeWait] TIME_WAIT sockets when cold starts began
 */
/** @typedef {{ unavailable: string }} Unavailable a scenario this build cannot run, and why */
/** @typedef {Measured | Unavailable} ScenarioResult */
/**
 * @typedef {object} SummaryRow
 * @property {string} key the goal's key: `${mode}${metric suffix}`, coldStartMs, idleRssMb
 * @property {string} label
 * @property {string} unit
 * @property {number} reference the reference server's median
 * @property {number} subject the subject server's median
 * @property {number} ratio subject / reference
 * @property {string | null} goal as text ('>= 0.97'), null: reported only
 * @property {boolean | null} ok null without a goal
 * @property {(v: number) => string} format
 */
/** @typedef {{ subject: string, reference: string, control: boolean, rows: SummaryRow[] }} ComparisonSummary */
/**
 * A server's median busiest-process share in a mode, and its goal when it has one.
 * @typedef {{ server: string, mode: Mode, busiestShare: number, goal: string | null, ok: boolean | null }} SplitSummary
 */
/**
 * The run's settings (BENCH_* and the fixed client settings); workers: N of the workers scenario.
 * @typedef {{ rounds: number, seconds: number, warmup: number, cold: number, rss: number, threads: number, connections: number, h2Streams: number, workers: number }} BenchConfig
 */

/** @param {number} value */
export function fmtRps(value) {
  return Math.round(value).toString().padStart(6);
}

/** @param {number} value */
export function fmtMs(value) {
  return value.toFixed(2);
}

/** @param {number} value */
function fmtTenths(value) {
  return value.toFixed(1);
}

/**
 * A server's run in a mode of a round.
 * @param {Round} round
 * @param {Mode} mode
 * @returns {LoadRun}
 */
function runIn(round, mode) {
  const run = round[mode];
  if (!run) throw new Error(`round ${round.round} of ${round.server} has no ${mode} run`);
  return run;
}

/**
 * The cold starts' CPU times, when every sample has one.
 * @param {ColdStart[] | undefined} cold
 * @returns {{ server: string, cpuMs: number }[] | null}
 */
function coldCpu(cold) {
  if (!cold?.length) return null;
  const cpu = cold.flatMap(({ server, cpuMs }) => (cpuMs === undefined ? [] : [{ server, cpuMs }]));
  return cpu.length === cold.length ? cpu : null;
}

/**
 * Per comparison, one row per mode and metric (plus cold start and RSS for
 * http): medians, ratio, goal.
 * @param {Scenario} scenario
 * @param {Measured} result
 * @returns {ComparisonSummary[]}
 */
export function summarize(scenario, result) {
  const { rounds, cold, rss } = result;
  /** @type {(mode: Mode, field: 'rps' | 'p99Ms' | 'cpuUsPerRequest') => (name: string) => number[]} */
  const loadOf = (mode, field) => (name) => rounds.filter((r) => r.server === name).map((r) => runIn(r, mode)[field]);
  /** @param {import('./scenarios.mjs').Comparison} comparison */
  const rowsFor = ({ subject, reference, goals, control = false }) => {
    /**
     * @param {string} key
     * @param {string} label
     * @param {string} unit
     * @param {(name: string) => number[]} values
     * @param {(v: number) => string} format
     * @returns {SummaryRow}
     */
    const metric = (key, label, unit, values, format) => ({ key, label, unit, ...compareMedians(values(reference), values(subject), goals[key]), format });
    const rows = [];
    for (const mode of scenario.modes) {
      for (const m of METRICS) rows.push(metric(`${mode}${m.suffix}`, `${MODES[mode].label} ${m.label}`, m.unit, loadOf(mode, m.field), m.format));
    }
    if (cold) rows.push(metric('coldStartMs', 'cold start', 'ms', (name) => valuesOf(cold, name, 'ms'), fmtMs));
    const cpu = coldCpu(cold);
    if (cpu) rows.push(metric('coldStartCpuMs', 'cold start CPU', 'ms', (name) => valuesOf(cpu, name, 'cpuMs'), fmtMs));
    if (rss) rows.push(metric('idleRssMb', 'idle RSS', 'MB', (name) => valuesOf(rss, name, 'mb'), fmtTenths));
    return { subject, reference, control, rows };
  };
  return scenario.comparisons.map(rowsFor);
}

/**
 * A server of several processes: one of its runs counted more than one.
 * @param {Measured} result
 * @param {Mode[]} modes
 * @param {string} server
 */
const isMultiProcess = (result, modes, server) =>
  result.rounds.some((r) => r.server === server && modes.some((m) => (r[m]?.processes?.length ?? 0) > 1));

/**
 * Per server of several processes and mode: the median share of the
 * busiest process, checked against the scenario's split goals (a share of
 * at most maxShare).
 * @param {Scenario} scenario
 * @param {Measured} result
 * @returns {SplitSummary[]}
 */
export function summarizeSplits(scenario, result) {
  /** @type {SplitSummary[]} */
  const rows = [];
  for (const server of scenario.order.filter((name) => isMultiProcess(result, scenario.modes, name))) {
    for (const mode of scenario.modes) {
      const shares = result.rounds.filter((r) => r.server === server).map((r) => r[mode]?.split?.busiestShare).filter((v) => v !== undefined);
      if (shares.length === 0) continue;
      const busiestShare = median(shares);
      const goal = scenario.splitGoals?.find((g) => g.server === server && g.mode === mode);
      const asGoal = goal && { op: /** @type {'<='} */ ('<='), ratio: goal.maxShare };
      rows.push({ server, mode, busiestShare, goal: asGoal ? `<= ${asGoal.ratio}` : null, ok: asGoal ? meetsGoal(asGoal, busiestShare) : null });
    }
  }
  return rows;
}

/**
 * A text table: a head row, a rule, the body rows; numbers right-aligned,
 * words left-aligned, columns as wide as their widest cell.
 * @param {string[][]} rows
 */
export function table(rows) {
  const widths = (rows[0] ?? []).map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  /** @type {(cell: string, width: number) => string} */
  const align = (cell, width) => (/^[\d.]+$/.test(cell) ? cell.padStart(width) : cell.padEnd(width));
  /** @param {string[]} row */
  const line = (row) => row.map((cell, col) => align(cell, widths[col] ?? 0)).join(' | ').trimEnd();
  const [head = [], ...body] = rows;
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

/**
 * How the scenario's load was made, in one line.
 * @param {Scenario} scenario
 * @param {BenchConfig} config
 */
export function clientLine(scenario, config) {
  if (scenario.modes.length === 0) return `no load; cold start x${config.cold}, the servers taking turns; medians`;
  const client = scenario.client === 'h2load'
    ? `h2load -t${config.threads} -c${config.connections} -m${config.h2Streams} -n<req/s of the warm-up x ${config.seconds} s> (${scenario.protocol})`
    : `wrk -t${config.threads} -c${config.connections} -d${config.seconds}s${scenario.protocol === 'https' ? ' over https' : ''}`;
  const cold = scenario.startup ? `; cold start x${config.cold}` : '';
  const rss = scenario.startup === 'cold+rss' ? `; idle RSS x${config.rss}` : '';
  const n = Object.values(scenario.servers).some((spec) => spec.counts) ? `; N = ${config.workers}` : '';
  return `${client}, ${config.rounds} alternating rounds${cold}${rss}${n}; medians`;
}

/**
 * The text printed for a scenario: its tables of medians and ratios, the
 * goals met, every round's figures and errors, the spread over rounds, cold
 * start and RSS samples, the access log check.
 * @param {string} name
 * @param {Scenario} scenario
 * @param {ScenarioResult} result
 * @param {ComparisonSummary[]} comparisons
 * @param {BenchConfig} config
 * @returns {string}
 */
export function scenarioReport(name, scenario, result, comparisons, config) {
  /** @type {string[]} */
  const out = [];
  out.push(`\n=== ${name}: ${scenario.title}`);
  if (result.unavailable !== undefined) {
    out.push(`not available: ${result.unavailable}`);
    return out.join('\n');
  }
  out.push(`${clientLine(scenario, config)}\n`);
  /** @param {string} server */
  const label = (server) => scenario.servers[server]?.label ?? server;
  let met = 0;
  let goals = 0;
  for (const { subject, reference, control, rows } of comparisons) {
    if (control) out.push(`A/A control, ${label(subject)} vs ${label(reference)}: identical servers, so a ratio away from 1 is the machine's noise:`);
    else if (comparisons.length > 1) out.push(`${label(subject)} vs ${label(reference)}:`);
    out.push(
      table([
        ['metric', label(reference), label(subject), 'ratio', 'goal', 'ok?'],
        ...rows.map((m) => [`${m.label} (${m.unit})`, m.format(m.reference), m.format(m.subject), m.ratio.toFixed(3), m.goal ?? 'report', m.ok === null ? '' : m.ok ? 'yes' : 'NO']),
      ]),
    );
    out.push('');
    goals += rows.filter((m) => m.goal).length;
    met += rows.filter((m) => m.ok).length;
  }
  const splits = summarizeSplits(scenario, result);
  if (splits.length > 0) {
    out.push('busiest process\'s share of the requests (median over rounds):');
    out.push(
      table([
        ['server', 'mode', 'share', 'goal', 'ok?'],
        ...splits.map((s) => [label(s.server), MODES[s.mode].label, s.busiestShare.toFixed(3), s.goal ?? 'report', s.ok === null ? '' : s.ok ? 'yes' : 'NO']),
      ]),
    );
    out.push('');
    goals += splits.filter((s) => s.goal).length;
    met += splits.filter((s) => s.ok).length;
  }
  if (goals > 0) out.push(`${met} of ${goals} goals met (ratio = ${comparisons.length > 1 ? 'first / second' : `${scenario.order[1]} / ${scenario.order[0]}`})`);

  const modes = scenario.modes;
  if (modes.length > 0) out.push(...loadDetails(scenario, result));
  for (const server of scenario.startup ? scenario.order : []) {
    out.push(`\ncold start ${server} (ms): ${valuesOf(result.cold ?? [], server, 'ms').map(fmtMs).join(' ')}`);
    const cpu = coldCpu(result.cold);
    if (cpu) out.push(`cold start CPU ${server} (ms): ${valuesOf(cpu, server, 'cpuMs').map(fmtMs).join(' ')}`);
    if (scenario.startup === 'cold+rss') out.push(`idle RSS ${server} (MB): ${valuesOf(result.rss ?? [], server, 'mb').map(fmtTenths).join(' ')}`);
  }
  if (result.accessChecks.length > 0) {
    const bad = result.accessChecks.filter((c) => !c.ok);
    out.push(`\naccess log check (lines with GET and 200 / requests served, after exit): ${result.accessChecks.map((c) => `${c.server} ${c.lines}/${c.requests}`).join(', ')}`);
    out.push(bad.length === 0 ? '  every log held a line per request (none when off)' : `  FAILED for ${bad.map((c) => `${c.server} round ${c.round}`).join(', ')}: those figures do not measure a working access log`);
  }
  return out.join('\n');
}

/**
 * Every round's figures and errors, the spread over rounds, and how pools split the requests.
 * @param {Scenario} scenario
 * @param {Measured} result
 * @returns {string[]}
 */
function loadDetails(scenario, result) {
  const modes = scenario.modes;
  const out = [];
  out.push('\nper round (req/s, p99 ms):');
  out.push(
    table([
      ['round', 'server', ...modes.flatMap((m) => [`${MODES[m].label} req/s`, `${MODES[m].label} p99`]), 'errors'],
      ...result.rounds.map((r) => [
        String(r.round),
        r.server,
        ...modes.flatMap((m) => [String(Math.round(runIn(r, m).rps)), fmtMs(runIn(r, m).p99Ms)]),
        modes.map((m) => runIn(r, m).socketErrors).filter(Boolean).join('; ') || 'none',
      ]),
    ]),
  );
  // The spread shows how much of a ratio the machine's own noise could explain.
  out.push('\nspread over rounds (min..max):');
  for (const mode of modes) {
    /** @type {['rps' | 'p99Ms' | 'cpuUsPerRequest', (v: number) => string | number][]} */
    const fields = [['rps', Math.round], ['p99Ms', fmtMs], ['cpuUsPerRequest', fmtTenths]];
    for (const [field, format] of fields) {
      const spread = scenario.order.map((server) => {
        const values = result.rounds.filter((r) => r.server === server).map((r) => runIn(r, mode)[field]);
        return `${server} ${format(Math.min(...values))}..${format(Math.max(...values))}`;
      });
      out.push(`  ${mode} ${field}: ${spread.join(', ')}`);
    }
  }
  const pooled = result.rounds.filter((r) => isMultiProcess(result, modes, r.server));
  if (pooled.length > 0) {
    out.push('\nsplit per round (% of requests, then of connections, per process, busiest first):');
    out.push(
      table([
        ['round', 'server', ...modes.flatMap((m) => [`${MODES[m].label} requests`, `${MODES[m].label} connections`])],
        ...pooled.map((r) => [String(r.round), r.server, ...modes.flatMap((m) => [r[m]?.split?.requests ?? '-', r[m]?.split?.connections ?? '-'])]),
      ]),
    );
  }
  return out;
}

/**
 * The scenario's entry in bench/results.json.
 * @param {Scenario} scenario
 * @param {ScenarioResult} result
 * @param {ComparisonSummary[]} comparisons
 * @param {{ startedAt: Date, environment: object, config: BenchConfig }} run when the scenario started, the machine and tools, the settings
 */
export function scenarioRecord(scenario, result, comparisons, { startedAt, environment, config }) {
  const base = { date: startedAt.toISOString(), title: scenario.title, environment, config };
  if (result.unavailable !== undefined) return { ...base, available: false, reason: result.unavailable };
  return {
    ...base,
    available: true,
    client: clientLine(scenario, config),
    servers: Object.fromEntries(scenario.order.map((server) => [server, scenario.servers[server]?.label])),
    // Per comparison "subject/reference": each metric's medians, ratio and goal.
    summary: Object.fromEntries(
      comparisons.map(({ subject, reference, control, rows }) => [
        `${subject}/${reference}`,
        {
          ...(control ? { control: true } : {}),
          ...Object.fromEntries(rows.map(({ key, unit, reference: ref, subject: sub, ratio, goal, ok }) => [key, { unit, [reference]: ref, [subject]: sub, ratio, goal, ok }])),
        },
      ]),
    ),
    ...(result.rounds.some((r) => scenario.modes.some((m) => r[m]?.split)) ? { splits: summarizeSplits(scenario, result) } : {}),
    rounds: result.rounds,
    ...(result.cold ? { coldStart: result.cold, ...(result.rss ? { idleRss: result.rss } : {}), tcpTimeWaitAtColdStart: result.timeWait } : {}),
    ...(result.accessChecks.length ? { accessLogCheck: result.accessChecks } : {}),
  };
}

