/**
 * `veil token create --name N --role R`: makes a bearer token for the HTTP API, prints it once and
 * the `http.tokens` entry holding only its SHA-256 (the gateway never stores the token itself).
 */
import type { Command } from 'commander';
import { formatTokenEntry, newToken, ROLES, type Role } from '../api/tokens';
import { VeilError } from '../errors';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Registers `veil token create`. */
export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage HTTP API bearer tokens');
  token
    .command('create')
    .description('create a bearer token; prints it once and the config entry with its hash')
    .requiredOption('--name <name>', 'who the token is for (letters, digits, _ . -)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--json', 'print {name, role, token, entry} as JSON')
    .action((opts: { name: string; role: string; json?: boolean }) => {
      if (!NAME.test(opts.name)) {
        throw new VeilError('VEIL_E_USAGE', '--name must be 1 to 64 letters, digits, _ . or -.');
      }
      if (!(ROLES as readonly string[]).includes(opts.role)) {
        throw new VeilError('VEIL_E_USAGE', `--role must be one of ${ROLES.join(', ')}.`);
      }
      const secret = newToken();
      const entry = formatTokenEntry(opts.name, opts.role as Role, secret);
      if (opts.json) {
        console.log(JSON.stringify({ name: opts.name, role: opts.role, token: secret, entry }));
        return;
      }
      console.log(`token (shown once, give it to ${opts.name}): ${secret}`);
      console.log(`add to http.tokens (config file or VEIL_HTTP__TOKENS): ${entry}`);
    });
}
