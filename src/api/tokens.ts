/**
 * Bearer tokens: the config stores only `name:role:sha256hex[:expiresAt]` (the token's SHA-256 and
 * an optional ISO 8601 expiry), so a leaked config file or log reveals no usable credential. The
 * token itself is printed once when made.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { VeilConfig } from '../config';
import { VeilError } from '../errors';

/** The roles of the HTTP API: modality → STOW-RS; workstation → QIDO/WADO-RS; admin → all. */
export type Role = 'modality' | 'workstation' | 'admin';

/** Every role, in the order docs list them. */
export const ROLES: readonly Role[] = ['modality', 'workstation', 'admin'];

/** One configured token: who it is, what it may do, and the SHA-256 of the secret. */
export interface TokenEntry {
  readonly name: string;
  readonly role: Role;
  /** SHA-256 of the token, 32 bytes. */
  readonly hash: Buffer;
  /** When the token stops being accepted (VEIL_E_AUTH_EXPIRED from then on); absent: never. */
  readonly expiresAt?: Date;
}

/** ISO 8601 date-time with an explicit zone (Z or ±hh:mm), so an expiry never depends on the host's. */
export const EXPIRY_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;
const ENTRY =
  /^([A-Za-z0-9_.-]{1,64}):(modality|workstation|admin):([0-9a-f]{64})(?::(\d{4}-[0-9T:.+Z-]+))?$/;

/** The instant an expiry text names, or undefined when it is not an ISO time with a zone. */
export function parseExpiry(text: string): Date | undefined {
  if (!EXPIRY_TIME.test(text)) return undefined;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** SHA-256 hex of a token, as stored in http.tokens. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Parses one `name:role:sha256hex[:expiresAt]` entry; VEIL_E_CONFIG_INVALID names the source on a bad one. */
export function parseTokenEntry(line: string, source = 'http.tokens'): TokenEntry {
  const m = ENTRY.exec(line);
  const expiresAt = m?.[4] === undefined ? undefined : parseExpiry(m[4]);
  if (!m || (m[4] !== undefined && expiresAt === undefined)) {
    throw new VeilError(
      'VEIL_E_CONFIG_INVALID',
      `${source}: a token entry is not name:role:sha256hex[:expiresAt] (role modality, workstation or admin; expiresAt an ISO 8601 time with Z or an offset)`,
      { key: source },
    );
  }
  const entry = { name: m[1]!, role: m[2] as Role, hash: Buffer.from(m[3]!, 'hex') };
  return expiresAt === undefined ? entry : { ...entry, expiresAt };
}

/** Formats an entry the way http.tokens and the tokens file store it (expiry in UTC). */
export function formatTokenEntry(
  name: string,
  role: Role,
  token: string,
  expiresAt?: Date,
): string {
  const entry = `${name}:${role}:${hashToken(token)}`;
  return expiresAt === undefined ? entry : `${entry}:${expiresAt.toISOString()}`;
}

/** A fresh random token (256 bits, base64url): what `veil token create` prints once. */
export function newToken(): string {
  return `veil_${randomBytes(32).toString('base64url')}`;
}

/** Reads the tokens file (a JSON list of entries); an absent file is an empty list. */
export function readTokensFile(file: string): TokenEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new VeilError('VEIL_E_IO', 'The tokens file cannot be read', { file }, { cause: err });
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (err) {
    throw new VeilError(
      'VEIL_E_CONFIG_INVALID',
      'The tokens file is not JSON',
      { file },
      { cause: err },
    );
  }
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
    throw new VeilError('VEIL_E_CONFIG_INVALID', 'The tokens file must be a JSON list of strings', {
      file,
    });
  }
  return list.map((line) => parseTokenEntry(line as string, 'http.tokensFile'));
}

/** All tokens the API accepts: http.tokens, then the entries of http.tokensFile. */
export function loadTokens(config: VeilConfig): TokenEntry[] {
  return [
    ...config.http.tokens.map((line) => parseTokenEntry(line)),
    ...readTokensFile(config.http.tokensFile),
  ];
}

/**
 * First start: when auth is on and no token is configured anywhere, creates an admin token,
 * stores its hash in http.tokensFile (0600) and returns the token so the caller prints it once.
 */
export function ensureInitialToken(
  config: VeilConfig,
): { name: string; token: string } | undefined {
  if (!config.http.authRequired || loadTokens(config).length > 0) return undefined;
  const token = newToken();
  const name = 'admin';
  const file = config.http.tokensFile;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify([formatTokenEntry(name, 'admin', token)], null, 2)}\n`, {
    mode: 0o600,
  });
  fs.renameSync(temp, file);
  return { name, token };
}

/** Finds the entry whose hash equals the presented token's, comparing every entry timing-safe. */
export function findToken(entries: readonly TokenEntry[], token: string): TokenEntry | undefined {
  const presented = createHash('sha256').update(token, 'utf8').digest();
  let found: TokenEntry | undefined;
  // No early exit: the time taken does not depend on which entry matched.
  for (const entry of entries) {
    if (timingSafeEqual(entry.hash, presented) && found === undefined) found = entry;
  }
  return found;
}
