// Real certificates for the TLS tests, made with openssl(1) in a temporary
// directory: a CA, two server certificates for localhost and 127.0.0.1 (the
// second stands for a renewal), a client certificate the CA signed, one it
// did not, and an encrypted copy of the server key.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificates {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** A second certificate and key for the same names: a renewal. */
  renewedCert: string;
  renewedKey: string;
  clientCert: string;
  clientKey: string;
  /** Self-signed: no CA we trust signed it. */
  strangerCert: string;
  strangerKey: string;
  encryptedKey: string;
  passphrase: string;
  remove(): void;
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'chaussette-tls-'));
  const sign = (name: string, subject: string, extensions: string) => {
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
  };
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=chaussette test CA']);
  const serverExt = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
  sign('server', '/CN=localhost/O=first', serverExt);
  sign('renewed', '/CN=localhost/O=renewed', serverExt);
  sign('client', '/CN=trusted client', 'extendedKeyUsage=clientAuth\n');
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'stranger.key', '-out', 'stranger.pem', '-days', '2', '-subj', '/CN=stranger']);
  const passphrase = 'correct horse battery staple';
  openssl(dir, ['pkey', '-in', 'server.key', '-aes256', '-passout', `pass:${passphrase}`, '-out', 'encrypted.key']);
  const path = (name: string) => join(dir, name);
  return {
    dir,
    ca: path('ca.pem'),
    cert: path('server.pem'),
    key: path('server.key'),
    renewedCert: path('renewed.pem'),
    renewedKey: path('renewed.key'),
    clientCert: path('client.pem'),
    clientKey: path('client.key'),
    strangerCert: path('stranger.pem'),
    strangerKey: path('stranger.key'),
    encryptedKey: path('encrypted.key'),
    passphrase,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const read = (path: string) => readFileSync(path);
