/** `veil keys generate|list|rotate|usage|remove`: the key store of the configured keys folder. */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { VeilError, isVeilError } from '../errors';
import { FileKeyStore, type KeyInfo } from '../keys/file-key-store';
import { inspect } from '../protection';
import { ExitCode } from './exit-codes';
import { planJobs } from './files';
import { instancesNeeding, formatInstance, openExistingCatalogue } from './catalogue-keys';
import { gatewaySettingsOf } from './serve-command';
import { setExitCode, settingsOf } from './settings';

const BITS = ['2048', '3072', '4096'];

/** Registers `veil keys` and its subcommands. */
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

  keys
    .command('rotate')
    .description('make a new current key; the old current key is retired (it still reveals)')
    .option('--bits <n>', 'modulus size: 2048, 3072 or 4096 (default from config keys.bits)')
    .option('--json', 'print the new key as JSON')
    .action(async (opts: { bits?: string; json?: boolean }, command: Command) => {
      const config = settingsOf(command);
      const bits = bitsOf(opts.bits, config.keys.bits);
      const store = await FileKeyStore.open(config.keys.dir);
      const before = store.list().find((k) => k.status === 'current');
      const key = await store.generate({ bits, label: 'rotated', status: 'current' });
      if (opts.json) {
        console.log(JSON.stringify({ current: key, retired: before?.keyId ?? null }, null, 2));
        return;
      }
      console.log(`new current ${key.bits}-bit RSA key ${key.keyId}`);
      if (before) console.log(`retired ${before.keyId} (run \`veil rewrap\` to move data off it)`);
    });

  keys
    .command('usage')
    .description(
      "list what still needs KEYID (no other held key opens it): the protected files in DIR, or without DIR the gateway's archived instances (from its catalogue)",
    )
    .argument('<keyId>', 'key id or a prefix of at least 8 hex digits')
    .argument('[dir]', 'protected file or folder (default: the gateway catalogue)')
    .option('--json', 'print JSON')
    .action(
      async (
        keyId: string,
        dir: string | undefined,
        opts: { json?: boolean },
        command: Command,
      ) => {
        const config = gatewaySettingsOf(command);
        const store = await FileKeyStore.open(config.keys.dir);
        const id = resolveKeyId(store.list(), keyId);
        if (dir !== undefined) {
          const needing = await filesNeeding(store.list(), id, dir);
          if (opts.json) console.log(JSON.stringify({ keyId: id, files: needing }, null, 2));
          else {
            for (const file of needing) console.log(file);
            console.log(`${needing.length} file(s) in ${dir} need key ${id}`);
          }
          return;
        }
        const catalogue = openExistingCatalogue(config);
        if (catalogue === undefined) {
          throw new VeilError(
            'VEIL_E_USAGE',
            `No gateway catalogue at ${config.index.file}: give DIR, or --data-dir / --config of the gateway.`,
          );
        }
        try {
          const { needing, unknown } = instancesNeeding(catalogue, store.list(), id);
          if (opts.json) {
            const uids = (list: typeof needing) => list.map(({ keyIds: _k, ...ref }) => ref);
            const out = { keyId: id, instances: uids(needing), unknown: uids(unknown) };
            console.log(JSON.stringify(out, null, 2));
            return;
          }
          for (const p of needing) console.log(formatInstance(p));
          console.log(`${needing.length} archived instance(s) need key ${id}`);
          if (unknown.length > 0) console.log(unknownNote(unknown.length));
        } finally {
          catalogue.close();
        }
      },
    );

  keys
    .command('remove')
    .description(
      "delete a retired or recipient key and its files (refused while the gateway's archived instances or --check DIR need it)",
    )
    .argument('<keyId>', 'key id or a prefix of at least 8 hex digits')
    .option('--check <dir>', 'also refuse when protected files in DIR still need the key')
    .option('--force', 'remove without checking (data only this key opens is then lost)')
    .action(async (keyId: string, opts: { check?: string; force?: boolean }, command: Command) => {
      const config = gatewaySettingsOf(command);
      const store = await FileKeyStore.open(config.keys.dir);
      const id = resolveKeyId(store.list(), keyId);
      if (!opts.force) {
        const catalogue = openExistingCatalogue(config);
        if (opts.check === undefined && catalogue === undefined) {
          throw new VeilError(
            'VEIL_E_USAGE',
            `No gateway catalogue at ${config.index.file}: give --check DIR (the protected files to check) or --force.`,
          );
        }
        const blockers: string[] = [];
        const counts: string[] = [];
        if (catalogue !== undefined) {
          try {
            const { needing, unknown } = instancesNeeding(catalogue, store.list(), id);
            blockers.push(...needing.map((p) => `archived instance ${formatInstance(p)}`));
            counts.push(`${needing.length} archived instance(s)`);
            if (unknown.length > 0) {
              blockers.push(
                ...unknown.map((p) => `archived instance (key ids unknown) ${formatInstance(p)}`),
              );
              blockers.push(unknownNote(unknown.length));
              counts.push(`${unknown.length} archived instance(s) without recorded key ids`);
            }
          } finally {
            catalogue.close();
          }
        }
        if (opts.check !== undefined) {
          const files = await filesNeeding(store.list(), id, opts.check);
          blockers.push(...files.map((file) => `file ${file}`));
          counts.push(`${files.length} file(s)`);
        }
        if (blockers.length > 0) {
          for (const b of blockers) console.error(`still needs the key: ${b}`);
          console.error(
            `veil: key ${id} not removed: ${counts.join(', ')} need it; run \`veil rewrap --archive\` (gateway) or \`veil rewrap DIR\` (files) first.`,
          );
          setExitCode(command, ExitCode.SomeFailed);
          return;
        }
      }
      await store.remove(id);
      console.log(`removed key ${id}`);
    });
}

/** Rows without key ids (catalogued before Veil recorded them) cannot tell: say how to fix it. */
function unknownNote(count: number): string {
  return `${count} archived instance(s) have no recorded key ids (catalogued by an older Veil): run \`veil rewrap --archive\` to record them`;
}

function bitsOf(bits: string | undefined, fallback: number): 2048 | 3072 | 4096 {
  if (bits !== undefined && !BITS.includes(bits)) {
    throw new VeilError('VEIL_E_USAGE', `--bits must be one of ${BITS.join(', ')}.`);
  }
  return (bits ? Number(bits) : fallback) as 2048 | 3072 | 4096;
}

/** A full key id from a store key or prefix (>= 8 hex digits); a full id not in the store is accepted. */
function resolveKeyId(list: KeyInfo[], keyId: string): string {
  const prefix = keyId.toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(prefix)) {
    throw new VeilError(
      'VEIL_E_USAGE',
      'A key id (or a prefix of at least 8 hex digits) is required.',
    );
  }
  const matches = list.filter((k) => k.keyId.startsWith(prefix));
  if (matches.length === 1) return matches[0]!.keyId;
  if (matches.length > 1) {
    throw new VeilError(
      'VEIL_E_USAGE',
      'The key id prefix matches several keys; give more digits.',
    );
  }
  if (prefix.length === 64) return prefix;
  throw new VeilError('VEIL_E_KEY_NOT_FOUND', 'No key with this id in the key store.', {
    keyId: prefix,
  });
}

/**
 * Protected files under `dir` wrapped for `keyId` and for no other key whose private key the store
 * holds: removing `keyId` would make them unrevealable. Unreadable or non-Veil files are skipped.
 */
async function filesNeeding(list: KeyInfo[], keyId: string, dir: string): Promise<string[]> {
  const held = new Set(
    list.filter((k) => k.hasPrivateKey && k.keyId !== keyId).map((k) => k.keyId),
  );
  const { jobs } = await planJobs(dir, dir);
  const needing: string[] = [];
  for (const job of jobs) {
    let keyIds: string[] | undefined;
    try {
      keyIds = inspect(await fs.readFile(job.input)).record?.keyIds;
    } catch (err) {
      if (!isVeilError(err) && (err as NodeJS.ErrnoException).code === undefined) throw err;
      continue;
    }
    if (keyIds?.includes(keyId) && !keyIds.some((k) => held.has(k))) needing.push(job.input);
  }
  return needing;
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
