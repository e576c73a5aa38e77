// What an access line says, in each format: pure functions of one finished
// request. common is Apache's Common Log Format, combined adds the referer
// and the user agent (both what log analysers such as GoAccess and AWStats
// read); json gives the same facts as fields of a pino record.

export interface AccessRecord {
  /** undefined on a unix socket. */
  remoteAddress: string | undefined;
  /** When the request came, ms since the epoch (CLF's %t). */
  startedAt: number;
  /** The request line's parts; undefined for a request the parser rejected before reading them. */
  method: string | undefined;
  url: string | undefined;
  httpVersion: string | undefined;
  /**
   * As sent; 499 (nginx's "client closed request") when the client closed
   * the connection before any status went out; undefined (`-`, null) when
   * the stop's deadline cut it before one did.
   */
  status: number | undefined;
  /** Body bytes the app wrote (CLF's %b). */
  bytes: number;
  durationMs: number;
  referer: string | undefined;
  userAgent: string | undefined;
  /** The connection closed before the response was complete. */
  aborted: boolean;
  /** The stop's deadline closed its connection before the response was complete. */
  cut: boolean;
  /** Why Node's parser rejected it (HPE_HEADER_OVERFLOW, ERR_HTTP_REQUEST_TIMEOUT): answered by Node, never reached the app. */
  rejected?: string | undefined;
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

/**
 * Inside quotes, as Apache escapes: `"` and `\` with a backslash, control
 * characters as \xhh: ASCII's, DEL, and C1's (0x80-0x9f, which a header
 * carries as latin1: 0x85 is NEL, a line break to some readers, 0x9b a
 * terminal's CSI).
 */
export function quoteSafe(text: string): string {
  if (!/["\\\x00-\x1f\x7f-\x9f]/.test(text)) return text;
  return text.replace(/["\\\x00-\x1f\x7f-\x9f]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** JSON.stringify, with DEL and the C1 controls escaped too (it leaves them raw): \u0085. */
export function jsonString(text: string): string {
  const json = JSON.stringify(text);
  return /[\x7f-\x9f]/.test(json) ? json.replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

/** `GET /path HTTP/1.1`, or `-` for a request rejected before its request line was read. */
function requestLine(record: AccessRecord): string {
  if (record.method === undefined) return '-';
  return `${quoteSafe(record.method)} ${quoteSafe(record.url ?? '-')} HTTP/${quoteSafe(record.httpVersion ?? '-')}`;
}

/**
 * `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /path HTTP/1.1" 200 2326`;
 * a request the stop's deadline cut ends with ` cut` (as Apache's %X and
 * nginx's $request_completion are added at the end, where a reader of the
 * standard fields does not look).
 */
export function commonLine(record: AccessRecord): string {
  return (
    `${record.remoteAddress ?? '-'} - - [${clfTimeCached(record.startedAt)}] ` +
    `"${requestLine(record)}" ${record.status ?? '-'} ${record.bytes === 0 ? '-' : record.bytes}`
  );
}

/** commonLine, then `"referer" "user agent"` ("-" when absent). */
export function combinedLine(record: AccessRecord): string {
  return `${commonLine(record)} "${quoteSafe(record.referer ?? '-')}" "${quoteSafe(record.userAgent ?? '-')}"`;
}

/** The line of the format chosen, marked when the deadline cut the request. */
export const marked =
  (line: (record: AccessRecord) => string) =>
  (record: AccessRecord): string =>
    record.cut ? `${line(record)} cut` : line(record);

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
  const optional = (key: string, value: string | undefined) => (value === undefined ? '' : `,"${key}":${jsonString(value)}`);
  return (
    `{"level":30,"time":${time}${context}${optional('method', record.method)}${optional('url', record.url)}` +
    `,"status":${record.status ?? null},"bytes":${record.bytes},"durationMs":${Math.round(record.durationMs * 1000) / 1000}` +
    `${optional('remoteAddress', record.remoteAddress)}${optional('httpVersion', record.httpVersion)}` +
    `${optional('referer', record.referer)}${optional('userAgent', record.userAgent)},"aborted":${record.aborted},"cut":${record.cut}` +
    `${optional('rejected', record.rejected)},"msg":"access"}\n`
  );
}
