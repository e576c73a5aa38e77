// bench/lib/parse.mjs on what wrk and h2load really print: the samples in
// test/fixtures/bench were captured by capture.mjs there, against small
// servers on 127.0.0.1; a few cases edit one line of a sample, and say so.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countAccessLines, countTimeWait, cpuNsFromSchedstat, cpuTicksFromStat, groupCpuTicks, parseCounts, parseH2load, parseWrk, processGroupFromStat, vmRssKb } from '../bench/lib/parse.mjs';
import { ROOT } from './helpers.js';

const sample = (name: string) => readFileSync(join(ROOT, 'test/fixtures/bench', name), 'utf8');
/** Within rounding of the unit conversion (1.11 s * 1000 is not exactly 1110 in binary). */
const near = (actual: number, expected: number) => Math.abs(actual - expected) < 1e-9;

t.test('wrk: requests/s, p99 in ms, the count; no error lines, no errors', async (t) => {
  t.same(parseWrk(sample('wrk-keepalive.txt')), { rps: 1422.62, p99Ms: 389.82, requests: 1497, socketErrors: null, non2xx: 0 });
  t.same(parseWrk(sample('wrk-close.txt')), { rps: 1070.18, p99Ms: 145.37, requests: 1103, socketErrors: null, non2xx: 0 });
});

t.test('wrk: k and MB in the thread stats and Transfer lines are not what is read', async (t) => {
  // Req/Sec 8.18k, "1.13MB read", Transfer/sec 1.12MB; Requests/sec has no prefix (wrk prints it with %9.2Lf).
  const text = sample('wrk-one-connection.txt');
  t.match(text, /Req\/Sec\s+8\.18k/);
  t.match(text, /Transfer\/sec:\s+1\.12MB/);
  t.same(parseWrk(text), { rps: 8114.66, p99Ms: 51.81, requests: 8155, socketErrors: null, non2xx: 0 });
});

t.test('wrk: p99 in us, s (with the space wrk pads it with) and m, all in ms', async (t) => {
  const slow = sample('wrk-slow.txt');
  t.match(slow, / {5}99% {4}1\.11s \n/, 'real: seconds, one trailing space');
  const seconds = parseWrk(slow);
  t.ok(near(seconds.p99Ms, 1110), `1.11s is 1110 ms (${seconds.p99Ms})`);
  t.equal(seconds.rps, 3.27);
  t.equal(seconds.requests, 10);

  // Edited: wrk prints us below 850 us and m from 51 s (its src/units.c); no sample here got either at p99.
  const oneConnection = sample('wrk-one-connection.txt');
  t.ok(near(parseWrk(oneConnection.replace('     99%   51.81ms', '     99%  640.00us')).p99Ms, 0.64), '640.00us');
  t.ok(near(parseWrk(oneConnection.replace('     99%   51.81ms', '     99%    1.02m ')).p99Ms, 61_200), '1.02m');
});

t.test('wrk: a run with errors keeps the socket errors line and counts the failed statuses', async (t) => {
  const text = sample('wrk-errors.txt');
  t.same(parseWrk(text), {
    rps: 9018.13,
    p99Ms: 8.8,
    requests: 9047,
    socketErrors: 'connect 0, read 1734, write 0, timeout 0',
    non2xx: 1292,
  });
});

t.test('wrk: requests that all timed out count, but have no latency (p99 0)', async (t) => {
  t.same(parseWrk(sample('wrk-timeouts.txt')), { rps: 3.3, p99Ms: 0, requests: 10, socketErrors: 'connect 0, read 0, write 0, timeout 10', non2xx: 0 });
});

t.test('wrk: a run with no request parses to zeros', async (t) => {
  // A server that accepts and never answers: wrk prints no error line at all.
  t.same(parseWrk(sample('wrk-no-requests.txt')), { rps: 0, p99Ms: 0, requests: 0, socketErrors: null, non2xx: 0 });
});

t.test('wrk: without the latency distribution (no --latency) or with no report at all, it throws', async (t) => {
  const withoutLatency = sample('wrk-keepalive.txt').replace(/ {2}Latency Distribution\n(?: +\d+% +\S+ *\n)+/, '');
  t.notMatch(withoutLatency, /99%/);
  t.throws(() => parseWrk(withoutLatency), /could not parse wrk output/);
  t.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n'), /could not parse wrk output:\nunable to connect/);
});

const syntheticLog = Array.from({ length: 200 }, (_, i) => `1796234757954887\t200\t${(i + 1) * 10}`).join('\n') + '\n';

t.test('h2load: requests/s, the count of succeeded requests, p99 from the log', async (t) => {
  // 200 requests of 10, 20, ... 2000 us: the 198th is the nearest-rank p99.
  t.same(parseH2load(sample('h2load-h2c.txt'), syntheticLog, 'h2c'), { rps: 4020.01, p99Ms: 1.98, requests: 5000, socketErrors: null, non2xx: 0 });
  t.same(parseH2load(sample('h2load-h2.txt'), syntheticLog, 'h2'), { rps: 8123.38, p99Ms: 1.98, requests: 5000, socketErrors: null, non2xx: 0 });
});

t.test("h2load: a real log's p99, of 10 requests the slowest", async (t) => {
  t.same(parseH2load(sample('h2load-small.txt'), sample('h2load-small.tsv'), 'h2c'), { rps: 794.98, p99Ms: 6.38, requests: 10, socketErrors: null, non2xx: 0 });
});

t.test('h2load: a run with errors: failed, errored and timeout counts, 3xx to 5xx statuses', async (t) => {
  // The server reset every 9th stream and answered 503 to every 5th: h2load counts the 503s as failed too
  // (requests are the 142 that succeeded), and logs the reset streams with status -1 and their duration,
  // which the p99 includes.
  const log = sample('h2load-errors.tsv');
  t.equal(log.split('\n').filter((line) => line.split('\t')[1] === '-1').length, 22);
  t.same(parseH2load(sample('h2load-errors.txt'), log, 'h2c'), { rps: 3171.1, p99Ms: 15.2, requests: 142, socketErrors: 'failed 58, errored 22, timeout 0', non2xx: 36 });
});

t.test('h2load: "finished in" in us, ms or s', async (t) => {
  t.match(sample('h2load-h2c.txt'), /^finished in 1\.24s, /m);
  // Edited: below 1 ms nghttp2 prints whole microseconds.
  const fast = sample('h2load-small.txt').replace('finished in 12.58ms,', 'finished in 950us,');
  t.equal(parseH2load(fast, sample('h2load-small.tsv'), 'h2c').rps, 794.98);
});

t.test('h2load: another protocol than asked, or none, throws: it would measure something else', async (t) => {
  t.throws(() => parseH2load(sample('h2load-http11.txt'), syntheticLog, 'h2'), /h2load spoke http\/1\.1, expected h2:/);
  t.throws(() => parseH2load(sample('h2load-h2.txt'), syntheticLog, 'h2c'), /h2load spoke h2, expected h2c:/);
  // No connection at all (a closed port): 0 requests, and no protocol was negotiated.
  t.throws(() => parseH2load(sample('h2load-no-connection.txt'), '', 'h2c'), /h2load spoke nothing, expected h2c:/);
});

t.test('h2load: an empty log gives a p99 of NaN; a report without its counts throws', async (t) => {
  t.ok(Number.isNaN(parseH2load(sample('h2load-h2c.txt'), '', 'h2c').p99Ms));
  const withoutCounts = sample('h2load-h2c.txt').replace(/^requests: .*\n/m, '');
  t.throws(() => parseH2load(withoutCounts, syntheticLog, 'h2c'), /could not parse h2load output/);
});

// proc(5): pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime ...
const nodeStat =
  '30161 (node) R 30158 30158 8750 0 -1 4194304 2166 0 0 0 12 6 0 0 20 0 7 0 100286 745713664 10082 18446744073709551615 11988992 39846385 140734707727648 0 0 0 0 16781312 17922 0 0 0 17 1 0 0 0 0 0 90418888 90555584 772870144 140734707730741 140734707730992 140734707730992 140734707732458 0\n';

t.test('/proc/<pid>/stat: CPU ticks (utime + stime) and the process group, whatever the command name holds', async (t) => {
  t.equal(cpuTicksFromStat(nodeStat), 18);
  t.equal(processGroupFromStat(nodeStat), 30158);
  // The command name may hold spaces and ") ": the fields are counted from the last ")".
  const odd = nodeStat.replace('(node)', '(a) b (c) d)');
  t.equal(cpuTicksFromStat(odd), 18);
  t.equal(processGroupFromStat(odd), 30158);
});

t.test('/proc/<pid>/task/<tid>/schedstat: time on a CPU in ns, null for anything else', async (t) => {
  // sched-stats.rst: time spent on the cpu (ns), time spent waiting on a runqueue (ns), timeslices run.
  t.equal(cpuNsFromSchedstat('5535823 19036781 5\n'), 5535823);
  t.equal(cpuNsFromSchedstat(''), null);
});

t.test('/proc/<pid>/status: VmRSS in kB, null without it', async (t) => {
  const status = 'Name:\tnode\nPid:\t30161\nVmPeak:\t  728744 kB\nVmSize:\t  728492 kB\nVmHWM:\t   41752 kB\nVmRSS:\t   41752 kB\nRssAnon:\t    6672 kB\nThreads:\t7\n';
  t.equal(vmRssKb(status), 41752);
  t.equal(vmRssKb('Name:\tkthreadd\nState:\tS (sleeping)\n'), null, 'a kernel thread has no VmRSS');
});

t.test('/proc/net/tcp: TIME_WAIT entries are state 06, not the header nor other states', async (t) => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:89BD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 193261 1 00000000edbf253a 100 0 0 10 0',
    '   1: 0100007F:8BD3 0100007F:B130 01 00000000:00000000 00:00000000 00000000     0        0 193370 1 00000000d6eb078e 20 4 30 10 -1',
    '   4: 0100007F:8690 0100007F:B131 06 00000000:00000000 03:000006EB 00000000     0        0 0 3 00000000efeee8b8',
    '   6: 0100007F:86C2 0100007F:B131 06 00000000:00000000 03:000005B9 00000000     0        0 0 3 000000001f0e4b47',
    '',
  ].join('\n');
  t.equal(countTimeWait(table), 2);
  t.equal(countTimeWait(''), 0);
});

t.test("access log: the lines of served GETs with 200, in chaussette's common and json formats", async (t) => {
  // chaussette's own log lines share the file; a POST is not counted.
  const info = '{"level":30,"time":1796234789049,"pid":29960,"name":"chaussette","msg":"Serving on 127.0.0.1:41100"}';
  const common = [
    info,
    '127.0.0.1 - - [02/Dec/2026:18:06:29 +0000] "GET / HTTP/1.1" 200 22',
    '127.0.0.1 - - [02/Dec/2026:18:06:29 +0000] "GET / HTTP/1.1" 200 22',
    '127.0.0.1 - - [02/Dec/2026:18:06:29 +0000] "POST /nothing HTTP/1.1" 200 22',
    '127.0.0.1 - - [02/Dec/2026:18:06:29 +0000] "GET /missing HTTP/1.1" 404 9',
    '',
  ].join('\n');
  t.equal(countAccessLines(common), 2);
  const json = [
    info,
    '{"level":30,"time":1796234790151,"pid":29987,"name":"chaussette","method":"GET","url":"/","status":200,"bytes":22,"durationMs":42.971,"remoteAddress":"127.0.0.1","httpVersion":"1.1","userAgent":"curl/7.88.1","aborted":false,"msg":"access"}',
    '{"level":30,"time":1796234790355,"pid":29987,"name":"chaussette","method":"POST","url":"/nothing","status":200,"bytes":22,"durationMs":0.349,"remoteAddress":"127.0.0.1","httpVersion":"1.1","userAgent":"curl/7.88.1","aborted":false,"msg":"access"}',
    '',
  ].join('\n');
  t.equal(countAccessLines(json), 1);
  t.equal(countAccessLines(''), 0);
});

t.test('parseCounts: the counting app\'s "REQUESTS CONNECTIONS" line; null for a half-written file', async (t) => {
  t.same(parseCounts('12345 50\n'), { requests: 12345, connections: 50 });
  t.same(parseCounts('0 0'), { requests: 0, connections: 0 });
  t.equal(parseCounts(''), null);
  t.equal(parseCounts('123'), null);
  t.equal(parseCounts('12 3\n45 6\n'), null);
});

t.test('groupCpuTicks: utime + stime of the processes of one group, others skipped', async (t) => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const stat = (pid: number, comm: string, pgrp: number, utime: number, stime: number) =>
    `${pid} (${comm}) S 1 ${pgrp} ${pgrp} 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 7 0 1000 0 0`;
  const stats = [stat(500, 'node', 500, 300, 40), stat(501, 'node', 500, 120, 30), stat(502, 'node (worker)', 500, 1, 1), stat(600, 'wrk', 600, 900, 900)];
  t.equal(groupCpuTicks(stats, 500), 492);
  t.equal(groupCpuTicks(stats, 600), 1800);
  t.equal(groupCpuTicks(stats, 700), 0, 'no process of that group');
});
