// TLS material for the https and http2 backends: gunicorn's --certfile,
// --keyfile and --ca-certs, plus the key's passphrase. Read from disk at
// start and again on SIGHUP (a renewed certificate is picked up without
// dropping the socket), and tried with createSecureContext before use, so a
// key that does not match its certificate, or a wrong passphrase, is one
// clear line at start (or a failed reload that keeps the old certificate),
// never a handshake that fails for every client.

import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { describeError, errors } from '../errors.js';
import { notRegularFile } from '../file-kind.js';

export interface TlsFiles {
  certfile: string;
  keyfile: string;
  /** CA bundle for client certificates: set, every client must present one it signed (mutual TLS). */
  caCerts?: string;
  passphrase?: string;
}

/** What a TLS server is built with, and what setSecureContext() takes on reload. */
export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  ca?: Buffer;
  passphrase?: string;
}

export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const read = (flag: string, path: string) => {
    // Checked before reading: a FIFO would block the event loop (a reload's too), /dev/zero never ends.
    let kind: string | undefined;
    try {
      kind = notRegularFile(statSync(path));
    } catch {
      // Gone or unreadable: readFileSync says which.
    }
    if (kind) throw errors.tlsFile(flag, path, `it is ${kind}, not a regular file`);
    try {
      return readFileSync(path);
    } catch (error) {
      throw errors.tlsFile(flag, path, error);
    }
  };
  const material: TlsMaterial = {
    cert: read('--certfile', files.certfile),
    key: read('--keyfile', files.keyfile),
    ...(files.caCerts === undefined ? {} : { ca: read('--ca-certs', files.caCerts) }),
    ...(files.passphrase === undefined ? {} : { passphrase: files.passphrase }),
  };
  try {
    createSecureContext(material);
  } catch (error) {
    throw errors.tlsMaterial(files.certfile, files.keyfile, explainTlsFailure(error, isEncryptedKey(material.key)), error);
  }
  return material;
}

/** A PEM key that needs a passphrase: PKCS#8's ENCRYPTED PRIVATE KEY, or the older Proc-Type header. */
function isEncryptedKey(key: Buffer): boolean {
  return /-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m.test(key.toString('latin1'));
}

/** OpenSSL's reasons, in words that say which file or setting to fix. */
function explainTlsFailure(error: unknown, encryptedKey: boolean): string {
  const text = describeError(error);
  // A wrong passphrase is usually "bad decrypt"; but about once in 250 keys the
  // garbage it decrypts to ends in valid padding, and only decoding it fails.
  if (/bad decrypt|bad password|interrupted or cancelled|maybe wrong password/i.test(text) || (encryptedKey && /DECODER routines::unsupported/i.test(text))) {
    return 'the key is encrypted and the passphrase is wrong or missing (--keyfile-password)';
  }
  if (/key values mismatch|KEY_VALUES_MISMATCH/i.test(text)) return 'the key does not belong to the certificate';
  if (/DECODER routines::unsupported/i.test(text)) return 'the key file holds no private key that can be read (a certificate? an unsupported format?)';
  if (/no start line|bad base64|PEM routines/i.test(text)) return `a file is not in PEM format (${text})`;
  return text;
}

/** Server options for tls.createServer() and friends; with a CA, client certificates are required. */
export function tlsServerOptions(material: TlsMaterial): SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean } {
  return material.ca ? { ...material, requestCert: true, rejectUnauthorized: true } : { ...material };
}

export interface TlsOptions {
  certfile?: string | undefined;
  keyfile?: string | undefined;
  caCerts?: string | undefined;
  keyfilePassword?: string | undefined;
}

/**
 * Which TLS files a backend gets, checked against what it can do: https
 * needs a certificate and key, http2 takes them or serves h2c, http refuses
 * them (serving cleartext while the user believes it is TLS is the worst outcome).
 */
export function tlsFilesFor(backendName: string, tls: 'none' | 'optional' | 'required', options: TlsOptions): TlsFiles | undefined {
  const { certfile, keyfile, caCerts, keyfilePassword } = options;
  const given = [certfile && '--certfile', keyfile && '--keyfile', caCerts && '--ca-certs', keyfilePassword && '--keyfile-password'].filter(
    (flag): flag is string => Boolean(flag),
  );
  if (tls === 'none') {
    if (given.length === 0) return undefined;
    throw errors.tlsOptions(`${given.join(', ')} given, but the ${backendName} backend does not serve TLS`, 'add --backend https (or http2)');
  }
  if (certfile && keyfile) {
    return { certfile, keyfile, ...(caCerts ? { caCerts } : {}), ...(keyfilePassword !== undefined ? { passphrase: keyfilePassword } : {}) };
  }
  if (tls === 'optional' && given.length === 0) return undefined;
  const missing = [!certfile && '--certfile', !keyfile && '--keyfile'].filter(Boolean).join(' and ');
  throw errors.tlsOptions(
    `the ${backendName} backend ${tls === 'required' ? 'serves TLS and' : `with ${given.join(', ')}`} needs ${missing}`,
    'give both --certfile and --keyfile (PEM files)',
  );
}
