/** `veil keys generate|list`: the key store of the configured keys folder. */
import type { Command } from 'commander';
import { VeilError } from '../errors';
import { FileKeyStore, type KeyInfo } from '../keys/file-key-store';
import { settingsOf } from './settings';

const BITS = ['2048', '3072', '4096'];

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage RSA keys (current, recipient, retired)');

  keys
    .command('generate')
    .description('generate an RSA key pair with a self-signed X.509 certificate')
    .option('--bits <n>', 'modulus size: 2048, 3072 or 4096 (default from config keys.bits)')
    .option('--label <text>', 'a name for people', 'generated')
    .option(
      '--recipient',
      'add as an extra recipient (e.g. break-glass) instead of making it current',
    )
    .option('--json', 'print the new key as JSON')
    .action(
      async (
        opts: { bits?: string; label: string; recipient?: boolean; json?: boolean },
        command: Command,
      ) => {
        const config = settingsOf(command);
        if (opts.bits !== undefined && !BITS.includes(opts.bits)) {
          throw new VeilError('VEIL_E_USAGE', `--bits must be one of ${BITS.join(', ')}.`);
        }
        const bits = (opts.bits ? Number(opts.bits) : config.keys.bits) as 2048 | 3072 | 4096;
        const store = await FileKeyStore.open(config.keys.dir);
        const key = await store.generate({
          bits,
          label: opts.label,
          status: opts.recipient ? 'recipient' : 'current',
        });
        if (opts.json) console.log(JSON.stringify(key, null, 2));
        else
          console.log(
            `generated ${key.bits}-bit RSA key ${key.keyId} (${key.status}) in ${config.keys.dir}`,
          );
      },
    );

  keys
    .command('list')
    .description('list keys: id, size, status, creation date, whether the private key is here')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      const config = settingsOf(command);
      const store = await FileKeyStore.open(config.keys.dir);
      const list = store.list();
      if (opts.json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      if (list.length === 0) {
        console.log(`no keys in ${config.keys.dir} (run \`veil keys generate\`)`);
        return;
      }
      for (const k of list) console.log(formatKey(k));
    });
}

function formatKey(k: KeyInfo): string {
  return [
    k.keyId,
    `${k.bits} bit`.padEnd(8),
    k.status.padEnd(9),
    k.createdAt.slice(0, 10),
    k.hasPrivateKey ? 'private key' : 'certificate only',
    k.label,
  ].join('  ');
}
