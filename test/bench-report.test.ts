// bench/lib/report.mjs with fixed measurements: the summary's medians and
// ratios, the exact text printed per scenario, the results.json entry.
import t from 'tap';
import { clientLine, fmtMs, fmtRps, scenarioRecord, scenarioReport, summarize, summarizeSplits, table, type BenchConfig, type LoadRun, type Measured } from '../bench/lib/report.mjs';
import { splitOf } from '../bench/lib/stats.mjs';
import { SCENARIOS, type Scenario } from '../bench/lib/scenarios.mjs';

const config: BenchConfig = { rounds: 2, seconds: 5, warmup: 1, cold: 2, rss: 2, threads: 1, connections: 50, h2Streams: 10, workers: 2 };
const scenario = (name: string): Scenario => {
  const found = SCENARIOS[name];
  if (!found) throw new Error(`no scenario ${name}`);
  return found;
};
const run = (rps: number, p99Ms: number, cpuUsPerRequest: number, socketErrors: string | null = null): LoadRun => ({
  rps,
  p99Ms,
  requests: Math.round(rps * 5),
  socketErrors,
  non2xx: 0,
  cpuUsPerRequest,
});

// Two rounds of http; medians of two are their mean.
const http: Measured = {
  rounds: [
    { round: 1, server: 'bare', keepAlive: run(70000, 2.5, 14.2), close: run(12000, 9, 85) },
    { round: 1, server: 'chaussette', keepAlive: run(68000, 2.75, 14.5), close: run(12200, 8.1, 86) },
    { round: 2, server: 'bare', keepAlive: run(72000, 2.7, 14.4), close: run(12400, 9.4, 84) },
    { round: 2, server: 'chaussette', keepAlive: run(69000, 3.25, 14.7, 'connect 0, read 2, write 0, timeout 1'), close: run(12000, 8.5, 87) },
  ],
  accessChecks: [],
  cold: [
    { run: 1, server: 'bare', ms: 30 },
    { run: 1, server: 'chaussette', ms: 40 },
    { run: 2, server: 'bare', ms: 34 },
    { run: 2, server: 'chaussette', ms: 45 },
  ],
  rss: [
    { run: 1, server: 'bare', mb: 44 },
    { run: 1, server: 'chaussette', mb: 47 },
    { run: 2, server: 'bare', mb: 44.4 },
    { run: 2, server: 'chaussette', mb: 47.2 },
  ],
  timeWait: 12,
};

t.test('formats: req/s rounded and padded to 6, ms with 2 decimals', async (t) => {
  t.equal(fmtRps(12545.4), ' 12545');
  t.equal(fmtRps(1234567.8), '1234568');
  t.equal(fmtMs(1.005), '1.00');
  t.equal(fmtMs(41.6), '41.60');
});

t.test('table: numbers right-aligned, words left-aligned, no trailing spaces', async (t) => {
  t.equal(
    table([
      ['metric', 'a', 'b'],
      ['throughput', '12', 'yes'],
      ['p99', '1.25', ''],
    ]),
    ['metric     | a    | b', '-----------|------|----', 'throughput |   12 | yes', 'p99        | 1.25 |'].join('\n'),
  );
});

t.test('clientLine: wrk or h2load as run, the rounds, cold start and RSS counts for http', async (t) => {
  t.equal(clientLine(scenario('http'), config), 'wrk -t1 -c50 -d5s, 2 alternating rounds; cold start x2; idle RSS x2; medians');
  t.equal(clientLine(scenario('https'), config), 'wrk -t1 -c50 -d5s over https, 2 alternating rounds; medians');
  t.equal(clientLine(scenario('h2'), config), 'h2load -t1 -c50 -m10 -n<req/s of the warm-up x 5 s> (h2), 2 alternating rounds; medians');
});

t.test('summarize: per mode and metric, then cold start and RSS, the medians, ratio and goal', async (t) => {
  const [comparison, ...more] = summarize(scenario('http'), http);
  t.same(more, []);
  t.equal(comparison?.subject, 'chaussette');
  t.equal(comparison?.reference, 'bare');
  const rows = (comparison?.rows ?? []).map(({ key, reference, subject, ratio, goal, ok }) => ({ key, reference, subject, ratio, goal, ok }));
  t.same(rows, [
    { key: 'keepAliveRps', reference: 71000, subject: 68500, ratio: 68500 / 71000, goal: '>= 0.97', ok: false },
    { key: 'keepAliveP99', reference: 2.6, subject: 3, ratio: 3 / 2.6, goal: '<= 1.1', ok: false },
    { key: 'keepAliveCpu', reference: 14.3, subject: 14.6, ratio: 14.6 / 14.3, goal: '<= 1.03', ok: true },
    { key: 'closeRps', reference: 12200, subject: 12100, ratio: 12100 / 12200, goal: '>= 0.97', ok: true },
    { key: 'closeP99', reference: 9.2, subject: 8.3, ratio: 8.3 / 9.2, goal: '<= 1.1', ok: true },
    { key: 'closeCpu', reference: 84.5, subject: 86.5, ratio: 86.5 / 84.5, goal: '<= 1.03', ok: true },
    { key: 'coldStartMs', reference: 32, subject: 42.5, ratio: 42.5 / 32, goal: '<= 1.35', ok: true },
    { key: 'idleRssMb', reference: 44.2, subject: 47.1, ratio: 47.1 / 44.2, goal: '<= 1.2', ok: true },
  ]);
});

t.test('scenarioReport: the whole text of an http scenario', async (t) => {
  const text = scenarioReport('http', scenario('http'), http, summarize(scenario('http'), http), config);
  const errors = 'connect 0, read 2, write 0, timeout 1';
  t.equal(
    text,
    [
      '',
      '=== http: chaussette vs bare node:http, hello app on fd 3 from systemd-socket-activate',
      'wrk -t1 -c50 -d5s, 2 alternating rounds; cold start x2; idle RSS x2; medians',
      '',
      'metric                          | bare node:http | chaussette | ratio | goal    | ok?',
      '--------------------------------|----------------|------------|-------|---------|----',
      'keep-alive throughput (req/s)   |          71000 |      68500 | 0.965 | >= 0.97 | NO',
      'keep-alive p99 latency (ms)     |           2.60 |       3.00 | 1.154 | <= 1.1  | NO',
      'keep-alive CPU per request (us) |           14.3 |       14.6 | 1.021 | <= 1.03 | yes',
      'close throughput (req/s)        |          12200 |      12100 | 0.992 | >= 0.97 | yes',
      'close p99 latency (ms)          |           9.20 |       8.30 | 0.902 | <= 1.1  | yes',
      'close CPU per request (us)      |           84.5 |       86.5 | 1.024 | <= 1.03 | yes',
      'cold start (ms)                 |          32.00 |      42.50 | 1.328 | <= 1.35 | yes',
      'idle RSS (MB)                   |           44.2 |       47.1 | 1.066 | <= 1.2  | yes',
      '',
      '6 of 8 goals met (ratio = chaussette / bare)',
      '',
      'per round (req/s, p99 ms):',
      'round | server     | keep-alive req/s | keep-alive p99 | close req/s | close p99 | errors',
      `------|------------|------------------|----------------|-------------|-----------|-${'-'.repeat(errors.length)}`,
      '    1 | bare       |            70000 |           2.50 |       12000 |      9.00 | none',
      '    1 | chaussette |            68000 |           2.75 |       12200 |      8.10 | none',
      '    2 | bare       |            72000 |           2.70 |       12400 |      9.40 | none',
      `    2 | chaussette |            69000 |           3.25 |       12000 |      8.50 | ${errors}`,
      '',
      'spread over rounds (min..max):',
      '  keepAlive rps: bare 70000..72000, chaussette 68000..69000',
      '  keepAlive p99Ms: bare 2.50..2.70, chaussette 2.75..3.25',
      '  keepAlive cpuUsPerRequest: bare 14.2..14.4, chaussette 14.5..14.7',
      '  close rps: bare 12000..12400, chaussette 12000..12200',
      '  close p99Ms: bare 9.00..9.40, chaussette 8.10..8.50',
      '  close cpuUsPerRequest: bare 84.0..85.0, chaussette 86.0..87.0',
      '',
      'cold start bare (ms): 30.00 34.00',
      'idle RSS bare (MB): 44.0 44.4',
      '',
      'cold start chaussette (ms): 40.00 45.00',
      'idle RSS chaussette (MB): 47.0 47.2',
    ].join('\n'),
  );
});

t.test('scenarioReport: a cold-start scenario has no load, only cold starts and their CPU time, compared three ways', async (t) => {
  const cold: Measured = {
    rounds: [],
    accessChecks: [],
    cold: [
      { run: 1, server: 'bare', ms: 30, cpuMs: 25 },
      { run: 1, server: 'cached', ms: 36, cpuMs: 30 },
      { run: 1, server: 'uncached', ms: 42, cpuMs: 40 },
    ],
    timeWait: 0,
  };
  const text = scenarioReport('cold-start', scenario('cold-start'), cold, summarize(scenario('cold-start'), cold), config);
  t.equal(
    text,
    [
      '',
      '=== cold-start: cold start of chaussette with and without its compile cache, vs bare node:http, on fd 3 from systemd-socket-activate',
      'no load; cold start x2, the servers taking turns; medians',
      '',
      'chaussette, compile cache vs bare node:http:',
      'metric              | bare node:http | chaussette, compile cache | ratio | goal    | ok?',
      '--------------------|----------------|---------------------------|-------|---------|----',
      'cold start (ms)     |          30.00 |                     36.00 | 1.200 | <= 1.35 | yes',
      'cold start CPU (ms) |          25.00 |                     30.00 | 1.200 | report  |',
      '',
      'chaussette, no compile cache vs bare node:http:',
      'metric              | bare node:http | chaussette, no compile cache | ratio | goal   | ok?',
      '--------------------|----------------|------------------------------|-------|--------|----',
      'cold start (ms)     |          30.00 |                        42.00 | 1.400 | report |',
      'cold start CPU (ms) |          25.00 |                        40.00 | 1.600 | report |',
      '',
      'chaussette, compile cache vs chaussette, no compile cache:',
      'metric              | chaussette, no compile cache | chaussette, compile cache | ratio | goal   | ok?',
      '--------------------|------------------------------|---------------------------|-------|--------|----',
      'cold start (ms)     |                        42.00 |                     36.00 | 0.857 | report |',
      'cold start CPU (ms) |                        40.00 |                     30.00 | 0.750 | report |',
      '',
      '1 of 1 goals met (ratio = first / second)',
      '',
      'cold start bare (ms): 30.00',
      'cold start CPU bare (ms): 25.00',
      '',
      'cold start cached (ms): 36.00',
      'cold start CPU cached (ms): 30.00',
      '',
      'cold start uncached (ms): 42.00',
      'cold start CPU uncached (ms): 40.00',
    ].join('\n'),
  );
});

t.test('scenarioRecord: the results.json entry of a measured scenario', async (t) => {
  const startedAt = new Date('2026-12-02T18:00:00.000Z');
  const environment = { node: 'v20.20.2' };
  const comparisons = summarize(scenario('http'), http);
  const record = scenarioRecord(scenario('http'), http, comparisons, { startedAt, environment, config });
  t.same(Object.keys(record), ['date', 'title', 'environment', 'config', 'available', 'client', 'servers', 'summary', 'rounds', 'coldStart', 'idleRss', 'tcpTimeWaitAtColdStart']);
  t.same(record, {
    date: '2026-12-02T18:00:00.000Z',
    title: 'chaussette vs bare node:http, hello app on fd 3 from systemd-socket-activate',
    environment,
    config,
    available: true,
    client: 'wrk -t1 -c50 -d5s, 2 alternating rounds; cold start x2; idle RSS x2; medians',
    servers: { bare: 'bare node:http', chaussette: 'chaussette' },
    summary: {
      'chaussette/bare': {
        keepAliveRps: { unit: 'req/s', bare: 71000, chaussette: 68500, ratio: 68500 / 71000, goal: '>= 0.97', ok: false },
        keepAliveP99: { unit: 'ms', bare: 2.6, chaussette: 3, ratio: 3 / 2.6, goal: '<= 1.1', ok: false },
        keepAliveCpu: { unit: 'us', bare: 14.3, chaussette: 14.6, ratio: 14.6 / 14.3, goal: '<= 1.03', ok: true },
        closeRps: { unit: 'req/s', bare: 12200, chaussette: 12100, ratio: 12100 / 12200, goal: '>= 0.97', ok: true },
        closeP99: { unit: 'ms', bare: 9.2, chaussette: 8.3, ratio: 8.3 / 9.2, goal: '<= 1.1', ok: true },
        closeCpu: { unit: 'us', bare: 84.5, chaussette: 86.5, ratio: 86.5 / 84.5, goal: '<= 1.03', ok: true },
        coldStartMs: { unit: 'ms', bare: 32, chaussette: 42.5, ratio: 42.5 / 32, goal: '<= 1.35', ok: true },
        idleRssMb: { unit: 'MB', bare: 44.2, chaussette: 47.1, ratio: 47.1 / 44.2, goal: '<= 1.2', ok: true },
      },
    },
    rounds: http.rounds,
    coldStart: http.cold,
    idleRss: http.rss,
    tcpTimeWaitAtColdStart: 12,
  });
  // What JSON.stringify keeps: the rows' format functions are not in it.
  t.notMatch(JSON.stringify(record), /format/);
});

t.test('a scenario this build cannot run: one line of text, available false with the reason', async (t) => {
  const reason = 'dist/bin.cjs --help has no --access-log (not in this build)';
  const accessLog = scenario('access-log');
  t.equal(scenarioReport('access-log', accessLog, { unavailable: reason }, [], config), `\n=== access-log: ${accessLog.title}\nnot available: ${reason}`);
  const startedAt = new Date('2026-12-02T18:00:00.000Z');
  t.same(scenarioRecord(accessLog, { unavailable: reason }, [], { startedAt, environment: {}, config }), {
    date: '2026-12-02T18:00:00.000Z',
    title: accessLog.title,
    environment: {},
    config,
    available: false,
    reason,
  });
});

t.test('h2c with a round of no request: NaN figures, goals not met, the errors in the round table', async (t) => {
  const h2c = scenario('h2c');
  const noRequests: LoadRun = { rps: 0, p99Ms: NaN, requests: 0, socketErrors: 'failed 1000, errored 1000, timeout 0', non2xx: 0, cpuUsPerRequest: NaN };
  const result: Measured = {
    rounds: [
      { round: 1, server: 'bare', multiplexed: run(40000, 12.5, 26) },
      { round: 1, server: 'chaussette', multiplexed: noRequests },
    ],
    accessChecks: [],
  };
  const text = scenarioReport('h2c', h2c, result, summarize(h2c, result), { ...config, rounds: 1 });
  const lines = text.split('\n');
  t.equal(lines[2], 'h2load -t1 -c50 -m10 -n<req/s of the warm-up x 5 s> (h2c), 1 alternating rounds; medians');
  t.same(lines.slice(4, 9), [
    'metric                              | bare node:http2 h2c | chaussette http2 h2c | ratio | goal    | ok?',
    '------------------------------------|---------------------|----------------------|-------|---------|----',
    'h2 multiplexed throughput (req/s)   |               40000 |                    0 | 0.000 | >= 0.95 | NO',
    'h2 multiplexed p99 latency (ms)     |               12.50 | NaN                  | NaN   | <= 1.1  | NO',
    'h2 multiplexed CPU per request (us) |                26.0 | NaN                  | NaN   | <= 1.05 | NO',
  ]);
  t.ok(lines.includes('0 of 3 goals met (ratio = chaussette / bare)'));
  t.ok(lines.includes('    1 | chaussette |                    0 | NaN                | failed 1000, errored 1000, timeout 0'));
  t.notOk(lines.some((line) => line.startsWith('cold start')), 'no cold start outside http');
});

t.test('access-log: a table per comparison, goals counted over those that have them, the log check', async (t) => {
  const accessLog = scenario('access-log');
  const result: Measured = {
    rounds: [
      { round: 1, server: 'bare', keepAlive: run(70000, 2.5, 14), close: run(12000, 9, 85) },
      { round: 1, server: 'off', keepAlive: run(68000, 2.6, 14.5), close: run(11800, 9.2, 86), },
      { round: 1, server: 'common', keepAlive: run(64600, 3.1, 15.9), close: run(11500, 9.5, 89) },
      { round: 1, server: 'json', keepAlive: run(57800, 3.5, 17.4, 'connect 0, read 1, write 0, timeout 0'), close: run(11000, 10, 92, 'connect 0, read 0, write 0, timeout 2') },
    ],
    accessChecks: [
      { round: 1, server: 'off', lines: 0, requests: 420000, ratio: 0, ok: true },
      { round: 1, server: 'common', lines: 400000, requests: 400000, ratio: 1, ok: true },
      { round: 1, server: 'json', lines: 350000, requests: 360000, ratio: 350000 / 360000, ok: false },
    ],
  };
  const comparisons = summarize(accessLog, result);
  t.same(comparisons.map((c) => `${c.subject}/${c.reference}`), ['common/off', 'json/off', 'off/bare', 'common/bare', 'json/bare']);
  const lines = scenarioReport('access-log', accessLog, result, comparisons, { ...config, rounds: 1 }).split('\n');
  t.equal(lines.filter((line) => line.endsWith(':') && line.includes(' vs ')).length, 5);
  t.ok(lines.includes('chaussette access log json vs chaussette access log off:'));
  // common/off: keep-alive 0.95 >= 0.9, CPU 1.097 <= 1.11, close 0.975 >= 0.95, CPU 1.035 <= 1.05: 4;
  // json/off: keep-alive 0.85, CPU 1.2, close 0.932, CPU 1.07: none. The ratios to bare are reported only.
  t.ok(lines.includes('4 of 8 goals met (ratio = first / second)'));
  t.ok(lines.includes('keep-alive p99 latency (ms)     |                      2.60 |                         3.10 | 1.192 | report  |'));
  t.ok(lines.includes('    1 | json   |            57800 |           3.50 |       11000 |     10.00 | connect 0, read 1, write 0, timeout 0; connect 0, read 0, write 0, timeout 2'));
  t.same(lines.slice(-3), [
    '',
    'access log check (lines with GET and 200 / requests served, after exit): off 0/420000, common 400000/400000, json 350000/360000',
    '  FAILED for json round 1: those figures do not measure a working access log',
  ]);
  const passed = { ...result, accessChecks: result.accessChecks.map((c) => ({ ...c, ok: true })) };
  t.equal(scenarioReport('access-log', accessLog, passed, comparisons, config).split('\n').at(-1), '  every log held a line per request (none when off)');
  const record = scenarioRecord(accessLog, result, comparisons, { startedAt: new Date(0), environment: {}, config });
  t.same('accessLogCheck' in record && record.accessLogCheck, result.accessChecks);
  t.notOk('coldStart' in record, 'no cold start outside http');
});

t.test('workers: the A/A control named, the busiest share per pooled server with its goal, the split per round, cold start only', async (t) => {
  const workers = scenario('workers');
  t.equal(clientLine(workers, config), 'wrk -t1 -c50 -d5s, 2 alternating rounds; cold start x2; N = 2; medians');
  const one = (rps: number) => ({ ...run(rps, 2, 20), processes: [{ pid: 1, requests: rps * 5, connections: 50 }], split: splitOf([{ pid: 1, requests: rps * 5, connections: 50 }]) });
  const two = (rps: number, busiest: number, connections: [number, number]) => {
    const processes = [
      { pid: 7, requests: Math.round(rps * 5 * busiest), connections: connections[0] },
      { pid: 8, requests: Math.round(rps * 5 * (1 - busiest)), connections: connections[1] },
    ];
    return { ...run(rps, 3, 25), processes, split: splitOf(processes) };
  };
  const round = 1;
  const result: Measured = {
    rounds: [
      { round, server: 'bare', keepAlive: one(40000), close: one(8000) },
      { round, server: 'shared', keepAlive: two(60000, 0.75, [42, 8]), close: two(12000, 0.53, [30000, 27000]) },
      { round, server: 'cluster', keepAlive: two(64000, 0.5, [25, 25]), close: two(7000, 0.5, [17500, 17500]) },
      { round, server: 'workers', keepAlive: two(58000, 0.6, [26, 24]), close: two(6000, 0.5, [15000, 15000]) },
      { round, server: 'chaussette', keepAlive: one(35000), close: one(7600) },
      { round, server: 'bare-2', keepAlive: one(38000), close: one(8000) },
    ],
    accessChecks: [],
    cold: ['bare', 'shared', 'cluster', 'workers', 'chaussette', 'bare-2'].map((server, i) => ({ run: 1, server, ms: 40 + 10 * i })),
    timeWait: 0,
  };
  t.same(summarizeSplits(workers, result), [
    { server: 'shared', mode: 'keepAlive', busiestShare: 0.75, goal: null, ok: null },
    { server: 'shared', mode: 'close', busiestShare: 0.53, goal: null, ok: null },
    { server: 'cluster', mode: 'keepAlive', busiestShare: 0.5, goal: null, ok: null },
    { server: 'cluster', mode: 'close', busiestShare: 0.5, goal: null, ok: null },
    { server: 'workers', mode: 'keepAlive', busiestShare: 0.6, goal: '<= 0.55', ok: false },
    { server: 'workers', mode: 'close', busiestShare: 0.5, goal: null, ok: null },
  ], 'single processes left out');
  const comparisons = summarize(workers, result);
  t.same(comparisons.map((c) => [`${c.subject}/${c.reference}`, c.control]), [
    ['bare-2/bare', true],
    ['workers/bare', false],
    ['shared/bare', false],
    ['cluster/bare', false],
    ['workers/chaussette', false],
  ]);
  const lines = scenarioReport('workers', workers, result, comparisons, { ...config, rounds: 1 }).split('\n');
  t.ok(lines.includes("A/A control, bare node:http, 1 process (A/A) vs bare node:http, 1 process: identical servers, so a ratio away from 1 is the machine's noise:"));
  t.ok(lines.includes('keep-alive throughput (req/s)   |                     40000 |                           38000 | 0.950 | report |'));
  t.ok(lines.includes('keep-alive throughput (req/s)   |                     40000 |                  58000 | 1.450 | >= 1.6 | NO'));
  t.ok(lines.includes('cold start (ms)                 |                 80.00 |                  70.00 | 0.875 | <= 1.3 | yes'), 'the pool started against one chaussette');
  // workers/bare: keep-alive 1.45 (NO), close 0.75 (NO); workers/chaussette: cold start (yes); the split of workers (NO).
  t.ok(lines.includes('1 of 4 goals met (ratio = first / second)'));
  t.ok(lines.includes('chaussette --workers N       | keep-alive | 0.600 | <= 0.55 | NO'));
  t.ok(lines.includes('    1 | shared  | 75/25               | 84/16                  | 53/47          | 53/47'));
  t.notOk(lines.some((line) => /^ +1 \| (bare|chaussette|bare-2) +\|.*\//.test(line)), 'no split row for one process');
  t.ok(lines.includes('cold start workers (ms): 70.00'));
  t.notOk(lines.some((line) => line.startsWith('idle RSS')), 'cold start only');
  const record = scenarioRecord(workers, result, comparisons, { startedAt: new Date(0), environment: {}, config });
  t.same('splits' in record && record.splits, summarizeSplits(workers, result));
  t.same('summary' in record && record.summary['bare-2/bare']?.control, true);
  t.notOk('idleRss' in record);
});
