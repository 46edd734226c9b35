/**
 * `veil token create --name N --role R [--expires-in D | --expires T]`: makes a bearer token for
 * the HTTP API, prints it once and the `http.tokens` entry holding only its SHA-256 and expiry
 * (the gateway never stores the token itself).
 */
import type { Command } from 'commander';
import { formatTokenEntry, newToken, parseExpiry, ROLES, type Role } from '../api/tokens';
import { VeilError } from '../errors';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
/** Ten years: longer is a typo, not a lifetime. */
const MAX_LIFETIME_MS = 3650 * UNIT_MS.d;

/** Parses a duration such as `90m`, `12h`, `30d` or `2w` into milliseconds (undefined if not one). */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,6})([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms <= MAX_LIFETIME_MS ? ms : undefined;
}

/** The expiry the options ask for, or undefined for a token that never expires. */
export function expiryOf(
  opts: { expiresIn?: string; expires?: string },
  now = Date.now(),
): Date | undefined {
  if (opts.expiresIn !== undefined && opts.expires !== undefined) {
    throw new VeilError('VEIL_E_USAGE', 'Give --expires-in or --expires, not both.');
  }
  if (opts.expiresIn !== undefined) {
    const ms = parseDuration(opts.expiresIn);
    if (ms === undefined) {
      throw new VeilError(
        'VEIL_E_USAGE',
        '--expires-in must be a number and a unit s, m, h, d or w (e.g. 90d), at most ten years.',
      );
    }
    return new Date(now + ms);
  }
  if (opts.expires !== undefined) {
    const at = parseExpiry(opts.expires);
    if (at === undefined) {
      throw new VeilError(
        'VEIL_E_USAGE',
        '--expires must be an ISO 8601 time with a zone, e.g. 2030-01-31T18:00:00Z.',
      );
    }
    if (at.getTime() <= now) throw new VeilError('VEIL_E_USAGE', '--expires is in the past.');
    return at;
  }
  return undefined;
}

/** Registers `veil token create`. */
export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage HTTP API bearer tokens');
  token
    .command('create')
    .description('create a bearer token; prints it once and the config entry with its hash')
    .requiredOption('--name <name>', 'who the token is for (letters, digits, _ . -)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--expires-in <duration>', 'lifetime such as 12h, 30d or 2w (default: no expiry)')
    .option('--expires <time>', 'expiry as an ISO 8601 time with a zone, e.g. 2030-01-31T18:00:00Z')
    .option('--json', 'print {name, role, token, entry, expiresAt} as JSON')
    .action(
      (opts: {
        name: string;
        role: string;
        expiresIn?: string;
        expires?: string;
        json?: boolean;
      }) => {
        if (!NAME.test(opts.name)) {
          throw new VeilError('VEIL_E_USAGE', '--name must be 1 to 64 letters, digits, _ . or -.');
        }
        if (!(ROLES as readonly string[]).includes(opts.role)) {
          throw new VeilError('VEIL_E_USAGE', `--role must be one of ${ROLES.join(', ')}.`);
        }
        const expiresAt = expiryOf(opts);
        const secret = newToken();
        const entry = formatTokenEntry(opts.name, opts.role as Role, secret, expiresAt);
        if (opts.json) {
          console.log(
            JSON.stringify({
              name: opts.name,
              role: opts.role,
              token: secret,
              entry,
              ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
            }),
          );
          return;
        }
        console.log(`token (shown once, give it to ${opts.name}): ${secret}`);
        if (expiresAt) console.log(`expires at ${expiresAt.toISOString()}`);
        console.log(`add to http.tokens (config file or VEIL_HTTP__TOKENS): ${entry}`);
      },
    );
}
