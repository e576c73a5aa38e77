// The app for bench/spread.mjs: answers which process served the request.
export default function pid(_req, res) {
  res.end(String(process.pid));
}
