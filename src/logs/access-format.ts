// What an access line says, in each format: pure functions of one finished
// request. common is Apache's Common Log Format, combined adds the referer
// and the user agent (both what log analysers such as GoAccess and AWStats
// read); json gives the same facts as fields of a pino record.

export interface AccessRecord {
  /** undefined on a unix socket. */
  remoteAddress: string | undefined;
  /** When the request came, ms since the epoch (CLF's %t). */
  startedAt: number;
  method: string;
  url: string;
  httpVersion: string;
  /** As sent; 499 (nginx's "client closed request") when the connection closed before any status went out. */
  status: number;
  /** Body bytes the app wrote (CLF's %b). */
  bytes: number;
  durationMs: number;
  referer: string | undefined;
  userAgent: string | undefined;
  /** The connection closed before the response was complete. */
  aborted: boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

/** `10/Oct/2000:13:55:36 -0700`, local time, as Apache writes %t. */
export function clfTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return (
    `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

// Many requests share a second: format it once.
let cachedSecond = Number.NaN;
let cachedTime = '';
function clfTimeCached(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedTime = clfTime(new Date(second * 1000));
  }
  return cachedTime;
}

/** Inside quotes, as Apache escapes: `"` and `\` with a backslash, control characters as \xhh. */
export function quoteSafe(text: string): string {
  if (!/["\\\x00-\x1f\x7f]/.test(text)) return text;
  return text.replace(/["\\\x00-\x1f\x7f]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /path HTTP/1.1" 200 2326` */
export function commonLine(record: AccessRecord): string {
  return (
    `${record.remoteAddress ?? '-'} - - [${clfTimeCached(record.startedAt)}] ` +
    `"${quoteSafe(record.method)} ${quoteSafe(record.url)} HTTP/${quoteSafe(record.httpVersion)}" ${record.status} ${record.bytes === 0 ? '-' : record.bytes}`
  );
}

/** commonLine, then `"referer" "user agent"` ("-" when absent). */
export function combinedLine(record: AccessRecord): string {
  return `${commonLine(record)} "${quoteSafe(record.referer ?? '-')}" "${quoteSafe(record.userAgent ?? '-')}"`;
}

/**
 * The fields a record of every log line of ours starts with, after level and
 * time: pid, name, and the logger's own bindings (worker=N). Serialised once.
 */
export function recordContext(bindings: Record<string, unknown>): string {
  const fields: Record<string, unknown> = { pid: process.pid, name: 'chaussette', ...bindings };
  return Object.entries(fields)
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('');
}

/**
 * A json access record: the line pino would write for
 * log.info({ method, url, ... }, 'access'), level 30, written directly. Going
 * through pino cost a third of a hello app's throughput (its general path:
 * bindings, hooks, serialisers); this is a handful of string joins.
 */
export function jsonLine(record: AccessRecord, time: number, context: string): string {
  const optional = (key: string, value: string | undefined) => (value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`);
  return (
    `{"level":30,"time":${time}${context},"method":${JSON.stringify(record.method)},"url":${JSON.stringify(record.url)}` +
    `,"status":${record.status},"bytes":${record.bytes},"durationMs":${Math.round(record.durationMs * 1000) / 1000}` +
    `${optional('remoteAddress', record.remoteAddress)},"httpVersion":${JSON.stringify(record.httpVersion)}` +
    `${optional('referer', record.referer)}${optional('userAgent', record.userAgent)},"aborted":${record.aborted},"msg":"access"}\n`
  );
}
