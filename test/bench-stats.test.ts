// bench/lib/stats.mjs and the goal and scenario choices of bench/lib/scenarios.mjs, with fixed numbers.
import t from 'tap';
import { accessLogCheck, compareMedians, countsDelta, cpuUsPerRequest, median, meetsGoal, nearestRank, splitOf, valuesOf } from '../bench/lib/stats.mjs';
import { HTTP_GOALS, pickGoals, SCENARIOS, selectScenarios } from '../bench/lib/scenarios.mjs';

t.test('median: odd and even counts, unsorted input left alone, NaN for none', async (t) => {
  const values = [5, 1, 3];
  t.equal(median(values), 3);
  t.same(values, [5, 1, 3], 'not sorted in place');
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([7]), 7);
  t.ok(Number.isNaN(median([])));
});

t.test('nearestRank: the smallest value that 99 % of them do not exceed', async (t) => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1
  t.equal(nearestRank(hundred, 0.99), 99);
  t.equal(nearestRank(hundred, 0.5), 50);
  t.equal(nearestRank([3, 1, 2], 0.99), 3, 'few values: the largest');
  t.equal(nearestRank([42], 0.99), 42);
  t.ok(Number.isNaN(nearestRank([], 0.99)));
});

t.test('cpuUsPerRequest: ticks of 10 ms over the requests; NaN when none was counted', async (t) => {
  t.equal(cpuUsPerRequest(150, 100_000), 15);
  t.equal(cpuUsPerRequest(0, 100), 0);
  t.ok(Number.isNaN(cpuUsPerRequest(12, 0)));
  t.ok(Number.isNaN(cpuUsPerRequest(12, null)), "wrk's count line missing");
});

t.test('meetsGoal: >= and <=, the bound itself included', async (t) => {
  t.ok(meetsGoal({ op: '>=', ratio: 0.97 }, 0.97));
  t.notOk(meetsGoal({ op: '>=', ratio: 0.97 }, 0.969));
  t.ok(meetsGoal({ op: '<=', ratio: 1.1 }, 1.1));
  t.notOk(meetsGoal({ op: '<=', ratio: 1.1 }, 1.11));
});

t.test('compareMedians: medians, ratio subject / reference, the goal as text, met or not', async (t) => {
  t.same(compareMedians([100, 300, 200], [190, 210, 180], { op: '>=', ratio: 0.97 }), { reference: 200, subject: 190, ratio: 0.95, goal: '>= 0.97', ok: false });
  t.same(compareMedians([10, 12], [11, 11], { op: '<=', ratio: 1.1 }), { reference: 11, subject: 11, ratio: 1, goal: '<= 1.1', ok: true });
  t.same(compareMedians([2], [3], undefined), { reference: 2, subject: 3, ratio: 1.5, goal: null, ok: null }, 'no goal: reported only');
});

t.test("valuesOf: one server's values in the order sampled", async (t) => {
  const samples = [
    { run: 1, server: 'bare', ms: 30 },
    { run: 1, server: 'chaussette', ms: 40 },
    { run: 2, server: 'bare', ms: 31 },
  ];
  t.same(valuesOf(samples, 'bare', 'ms'), [30, 31]);
  t.same(valuesOf(samples, 'nobody', 'ms'), []);
});

t.test('accessLogCheck: 0.98 to 1.02 lines per request, none when off', async (t) => {
  t.same(accessLogCheck(21349, 21273, true), { lines: 21349, requests: 21273, ratio: 21349 / 21273, ok: true });
  t.equal(accessLogCheck(102, 100, true).ok, true);
  t.equal(accessLogCheck(103, 100, true).ok, false, 'more lines than requests served');
  t.equal(accessLogCheck(97, 100, true).ok, false, 'lines dropped');
  t.equal(accessLogCheck(0, 28328, false).ok, true);
  t.equal(accessLogCheck(1, 28328, false).ok, false, 'a line while off');
  t.ok(Number.isNaN(accessLogCheck(0, 0, true).ratio));
  t.equal(accessLogCheck(0, 0, true).ok, false, 'no request: nothing shows the log works');
});

t.test('pickGoals: https takes the keep-alive and close goals of http, not cold start or RSS', async (t) => {
  const picked = pickGoals(HTTP_GOALS, /^(keepAlive|close)/);
  t.same(Object.keys(picked), ['keepAliveRps', 'keepAliveP99', 'closeRps', 'closeP99', 'keepAliveCpu', 'closeCpu']);
  t.same(SCENARIOS.https?.comparisons[0]?.goals, picked);
});

t.test('selectScenarios: BENCH_ONLY names, http2 for h2 and h2c, in the table order, unknown names refused', async (t) => {
  const all = ['cold-start', 'http', 'https', 'h2', 'h2c', 'access-log', 'module', 'workers'];
  t.same(selectScenarios(undefined), all);
  t.same(selectScenarios(' '), all);
  t.same(selectScenarios('access-log,http'), ['http', 'access-log'], 'http first, whatever the order given');
  t.same(selectScenarios('http,cold-start'), ['cold-start', 'http'], 'the cold starts before any load');
  t.same(selectScenarios('http2 https'), ['https', 'h2', 'h2c']);
  t.same(selectScenarios('h2c,http2,,h2c'), ['h2', 'h2c']);
  t.throws(() => selectScenarios('http,http3'), { message: 'unknown scenario "http3"; known: cold-start, http, https, h2, h2c, access-log, module, workers, http2' });
});

t.test('selectScenarios: names on the command line (npm run bench -- workers), with BENCH_ONLY or alone', async (t) => {
  t.same(selectScenarios(undefined, ['workers', 'module']), ['module', 'workers']);
  t.same(selectScenarios('', ['workers,http2']), ['h2', 'h2c', 'workers']);
  t.same(selectScenarios('http', ['workers']), ['http', 'workers'], 'both add up');
  t.same(selectScenarios(undefined, []), selectScenarios(undefined), 'no argument: all');
  t.throws(() => selectScenarios(undefined, ['--workers']), { message: /^unknown scenario "--workers"/ });
});

t.test('countsDelta: what each process served during a run, busiest first; a process new in the run counts from 0', async (t) => {
  const before = new Map([
    [101, { requests: 10, connections: 2 }],
    [102, { requests: 5, connections: 1 }],
  ]);
  const after = new Map([
    [101, { requests: 110, connections: 12 }],
    [102, { requests: 305, connections: 31 }],
    [103, { requests: 100, connections: 10 }],
  ]);
  t.same(countsDelta(before, after), [
    { pid: 102, requests: 300, connections: 30 },
    { pid: 101, requests: 100, connections: 10 },
    { pid: 103, requests: 100, connections: 10 },
  ]);
  t.same(countsDelta(new Map(), new Map()), []);
});

t.test('splitOf: shares of requests and of connections, busiest first, and the busiest share', async (t) => {
  // The keep-alive case: requests 75/25, connections 84/16 (the second process has more requests per connection).
  const split = splitOf([
    { pid: 1, requests: 7500, connections: 42 },
    { pid: 2, requests: 2500, connections: 8 },
  ]);
  t.same(split, { requests: '75/25', connections: '84/16', busiestShare: 0.75 });
  t.same(splitOf([{ pid: 1, requests: 10, connections: 1 }]), { requests: '100', connections: '100', busiestShare: 1 });
  t.same(splitOf([
    { pid: 1, requests: 60, connections: 2 },
    { pid: 2, requests: 40, connections: 6 },
    { pid: 3, requests: 0, connections: 0 },
  ]), { requests: '60/40/0', connections: '75/25/0', busiestShare: 0.6 }, 'connections sorted on their own; an idle process counts');
  const none = splitOf([{ pid: 1, requests: 0, connections: 0 }]);
  t.equal(none.requests, 'NaN');
  t.ok(Number.isNaN(none.busiestShare));
});

t.test('module and workers: the issue 17 goals, an A/A control whose servers are the same command', async (t) => {
  for (const name of ['module', 'workers']) {
    const scenario = SCENARIOS[name];
    const control = scenario?.comparisons.filter((c) => c.control) ?? [];
    t.equal(control.length, 1, `${name}: one A/A pair`);
    const [pair] = control;
    const ctx = { tmp: '/tmp', workers: 2 };
    const [a, b] = [scenario?.servers[pair?.reference ?? ''], scenario?.servers[pair?.subject ?? '']];
    t.same([b?.script, b?.args(ctx), b?.counts], [a?.script, a?.args(ctx), a?.counts], `${name}: the A/A servers run the same command`);
    t.same(pair?.goals, {}, 'the control has no goal');
  }
  const module = SCENARIOS.module;
  t.same(module?.comparisons.find((c) => c.subject === 'cjs')?.goals.coldStartMs, { op: '<=', ratio: 1.2 });
  t.same(module?.servers.cjs?.args({ tmp: '/tmp', workers: 2 }), ['--log-level', 'warn', 'bench/apps/hello.cjs']);
  t.same(module?.servers.bare?.args({ tmp: '/tmp', workers: 2 }), ['bench/apps/hello.cjs'], 'the bare server imports the same module');
  const workers = SCENARIOS.workers;
  t.same(workers?.servers.workers?.args({ tmp: '/tmp', workers: 3 }), ['--log-level', 'warn', '--workers', '3', 'bench/apps/counting.cjs']);
  t.same(workers?.servers.shared?.args({ tmp: '/tmp', workers: 3 }), ['3', 'bench/apps/counting.cjs']);
  t.same(workers?.servers.cluster?.args({ tmp: '/tmp', workers: 3 }), ['3', 'bench/apps/counting.cjs']);
  t.ok(Object.values(workers?.servers ?? {}).every((spec) => spec.counts), 'every workers server counts its split');
  t.same(workers?.comparisons.find((c) => c.subject === 'workers' && c.reference === 'bare')?.goals, {
    keepAliveRps: { op: '>=', ratio: 1.6 },
    closeRps: { op: '>=', ratio: 1.3 },
  });
  t.same(workers?.comparisons.find((c) => c.reference === 'chaussette')?.goals, { coldStartMs: { op: '<=', ratio: 1.3 } });
  t.same(workers?.splitGoals, [{ server: 'workers', mode: 'keepAlive', maxShare: 0.55 }]);
});
