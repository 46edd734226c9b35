import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_SCHEMA, listConfigKeys, loadConfig } from '../src/config';
import { isVeilError } from '../src/errors';

const ROOT = path.resolve(__dirname, '..');
const REPO_CONFIG = path.join(ROOT, 'config');

const made: string[] = [];

/** A fresh config folder holding the given files; removed after the suite. */
function configDir(files: Record<string, unknown> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veil-config-'));
  made.push(dir);
  for (const [name, body] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  }
  return dir;
}

/** Asserts loadConfig throws VEIL_E_CONFIG_INVALID with a message matching `pattern`. */
function rejects(options: Parameters<typeof loadConfig>[0], pattern: RegExp): void {
  assert.throws(
    () => loadConfig(options),
    (err: unknown) => {
      assert.ok(isVeilError(err, 'VEIL_E_CONFIG_INVALID'), String(err));
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('config', () => {
  after(() => {
    for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads the schema defaults from the shipped default.json', () => {
    const config = loadConfig({ env: {}, configDir: REPO_CONFIG, nodeEnv: 'none' });
    assert.equal(config.log.level, 'info');
    assert.equal(config.keys.bits, 3072);
    assert.equal(config.keys.generateOnFirstStart, true);
    assert.equal(config.protection.headerConfidentiality, true);
    assert.equal(config.protection.keyTransport, 'rsa-oaep');
    assert.equal(config.protection.cmsKeyTransport, 'rsa-pkcs1v15');
    assert.equal(config.protection.dataKeyScope, 'series');
    assert.deepEqual(config.protection.stego.fields, [
      'PatientID',
      'PatientName',
      'PatientBirthDate',
      'AccessionNumber',
      'StudyInstanceUID',
      'SOPInstanceUID',
    ]);
    assert.equal(config.protection.stego.whenTooSmall, 'minimal');
    assert.equal(config.protection.compressed.default, 'encrypt');
    assert.deepEqual(config.protection.compressed.byTransferSyntax, {
      '1.2.840.10008.1.2.5': 'decode',
    });
  });

  it('resolves paths against the working directory', () => {
    const config = loadConfig({ env: {}, configDir: REPO_CONFIG, nodeEnv: 'none' });
    assert.equal(config.dataDir, path.resolve('data'));
    assert.equal(config.keys.dir, path.resolve('data', 'keys'));
    assert.equal(config.protection.pseudonymSecretFile, path.resolve('data/keys/pseudonym.secret'));
  });

  it('loads defaults without any config folder', () => {
    const config = loadConfig({ env: {}, configDir: configDir() });
    assert.equal(config.http.port, 8080);
    assert.equal(config.dimse.aeTitle, 'VEIL');
  });

  it('layers default.json, <NODE_ENV>.json, VEIL_CONFIG and environment in that order', () => {
    const dir = configDir({
      'default.json': { log: { level: 'warn' }, http: { port: 1 }, dimse: { port: 2 } },
      'staging.json': { http: { port: 3 }, dimse: { port: 4 }, redis: { url: 'redis://a:1' } },
      'site.json': { dimse: { port: 5 }, redis: { url: 'redis://b:2' } },
    });
    const config = loadConfig({
      env: {
        NODE_ENV: 'staging',
        VEIL_CONFIG: path.join(dir, 'site.json'),
        VEIL_REDIS__URL: 'redis://c:3',
      },
      configDir: dir,
    });
    assert.equal(config.log.level, 'warn');
    assert.equal(config.http.port, 3);
    assert.equal(config.dimse.port, 5);
    assert.equal(config.redis.url, 'redis://c:3');
    assert.equal(config.keys.bits, 3072, 'untouched keys keep their defaults');
  });

  it('prefers the nodeEnv option over NODE_ENV', () => {
    const dir = configDir({ 'a.json': { http: { port: 1 } }, 'b.json': { http: { port: 2 } } });
    assert.equal(loadConfig({ env: { NODE_ENV: 'a' }, configDir: dir, nodeEnv: 'b' }).http.port, 2);
  });

  it('applies the shipped test and development overrides', () => {
    assert.equal(
      loadConfig({ env: {}, configDir: REPO_CONFIG, nodeEnv: 'test' }).log.level,
      'silent',
    );
    assert.equal(loadConfig({ env: {}, configDir: REPO_CONFIG }).log.level, 'debug');
    const prod = loadConfig({ env: {}, configDir: REPO_CONFIG, nodeEnv: 'production' });
    assert.equal(prod.keys.generateOnFirstStart, false);
  });

  it('overrides strings, numbers, booleans, arrays and maps from the environment', () => {
    const config = loadConfig({
      configDir: REPO_CONFIG,
      nodeEnv: 'none',
      env: {
        VEIL_DATA_DIR: '/srv/veil',
        VEIL_LOG__LEVEL: 'debug',
        VEIL_HTTP__PORT: '9090',
        VEIL_KEYS__BITS: '2048',
        VEIL_PROTECTION__HEADER_CONFIDENTIALITY: 'false',
        VEIL_PROTECTION__STEGO__ENABLED: '0',
        VEIL_KEYS__GENERATE_ON_FIRST_START: 'FALSE',
        VEIL_PROTECTION__STEGO__FIELDS: '["PatientID","StudyInstanceUID"]',
        VEIL_PROTECTION__COMPRESSED__BY_TRANSFER_SYNTAX: '{"1.2.840.10008.1.2.4.50":"reject"}',
      },
    });
    assert.equal(config.dataDir, '/srv/veil');
    assert.equal(config.log.level, 'debug');
    assert.equal(config.http.port, 9090);
    assert.equal(config.keys.bits, 2048);
    assert.equal(config.protection.headerConfidentiality, false);
    assert.equal(config.protection.stego.enabled, false);
    assert.equal(config.keys.generateOnFirstStart, false);
    assert.deepEqual(config.protection.stego.fields, ['PatientID', 'StudyInstanceUID']);
    assert.deepEqual(config.protection.compressed.byTransferSyntax, {
      '1.2.840.10008.1.2.4.50': 'reject',
    });
  });

  it('accepts a comma-separated list from the environment', () => {
    const config = loadConfig({
      env: { VEIL_PROTECTION__STEGO__FIELDS: 'PatientID, PatientName' },
      configDir: configDir(),
    });
    assert.deepEqual(config.protection.stego.fields, ['PatientID', 'PatientName']);
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({ env: {}, configDir: REPO_CONFIG });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.protection.stego));
    assert.ok(Object.isFrozen(config.protection.stego.fields));
    assert.ok(Object.isFrozen(config.protection.compressed.byTransferSyntax));
    assert.throws(() => {
      (config.http as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (config.protection.stego.fields as string[]).push('PatientSex');
    }, TypeError);
  });

  it('does not share state between loads', () => {
    const a = loadConfig({ env: { VEIL_HTTP__PORT: '1' }, configDir: configDir() });
    const b = loadConfig({ env: {}, configDir: configDir() });
    assert.equal(a.http.port, 1);
    assert.equal(b.http.port, 8080);
    assert.notEqual(a.protection.stego.fields, CONFIG_SCHEMA.protection.stego.fields.default);
  });

  describe('rejections', () => {
    const env = (vars: NodeJS.ProcessEnv) => ({ env: vars, configDir: configDir() });

    it('names the key and the allowed values of an enum', () => {
      rejects(
        env({ VEIL_PROTECTION__STEGO__WHEN_TOO_SMALL: 'maybe' }),
        /config key protection\.stego\.whenTooSmall must be one of minimal, skip \(got 'maybe'\) \(from environment variable VEIL_PROTECTION__STEGO__WHEN_TOO_SMALL\)/,
      );
      rejects(
        env({ VEIL_KEYS__BITS: '1024' }),
        /config key keys\.bits must be one of 2048, 3072, 4096 \(got 1024\)/,
      );
    });

    it('rejects a boolean that is not true or false', () => {
      rejects(
        env({ VEIL_PROTECTION__HEADER_CONFIDENTIALITY: 'yes' }),
        /config key protection\.headerConfidentiality must be a boolean \(got 'yes'\)/,
      );
    });

    it('rejects a number that is not an integer in range', () => {
      rejects(
        env({ VEIL_HTTP__PORT: 'abc' }),
        /config key http\.port must be an integer from 0 to 65535 \(got 'abc'\)/,
      );
      rejects(
        env({ VEIL_HTTP__PORT: '70000' }),
        /http\.port must be an integer from 0 to 65535 \(got 70000\)/,
      );
      rejects(env({ VEIL_DIMSE__PORT: '1.5' }), /dimse\.port must be an integer/);
    });

    it('rejects a list that is not an array of keywords', () => {
      rejects(
        env({ VEIL_PROTECTION__STEGO__FIELDS: '["Patient ID"]' }),
        /protection\.stego\.fields must be an array of strings, each a DICOM keyword/,
      );
      rejects(
        env({ VEIL_PROTECTION__STEGO__FIELDS: '[1,2]' }),
        /protection\.stego\.fields must be an array/,
      );
    });

    it('rejects a map with a bad key or value', () => {
      rejects(
        env({ VEIL_PROTECTION__COMPRESSED__BY_TRANSFER_SYNTAX: '{"1.2.x":"decode"}' }),
        /protection\.compressed\.byTransferSyntax has a key '1\.2\.x' that is not a transfer syntax UID/,
      );
      rejects(
        env({
          VEIL_PROTECTION__COMPRESSED__BY_TRANSFER_SYNTAX: '{"1.2.840.10008.1.2.4.50":"clear"}',
        }),
        /protection\.compressed\.byTransferSyntax\.1\.2\.840\.10008\.1\.2\.4\.50 must be one of encrypt, decode, reject \(got 'clear'\)/,
      );
      rejects(
        env({ VEIL_PROTECTION__COMPRESSED__BY_TRANSFER_SYNTAX: 'decode' }),
        /byTransferSyntax must be an object mapping a transfer syntax UID/,
      );
    });

    it('rejects strings that break their pattern', () => {
      rejects(
        env({ VEIL_DIMSE__AE_TITLE: 'A_TITLE_LONGER_THAN_16' }),
        /dimse\.aeTitle must be 1 to 16 printable characters/,
      );
      rejects(env({ VEIL_REDIS__URL: 'http://redis' }), /redis\.url must be empty or a redis:\/\//);
      rejects(env({ VEIL_DATA_DIR: '' }), /config key dataDir must be a non-empty path/);
    });

    it('rejects an unknown key in a file, naming its full path and the file', () => {
      const dir = configDir({ 'default.json': { protection: { stego: { colour: 'red' } } } });
      rejects(
        { env: {}, configDir: dir },
        /config key protection\.stego\.colour is not a known key \(from .*default\.json\)/,
      );
    });

    it('rejects a value where an object of keys is expected', () => {
      const dir = configDir({ 'default.json': { protection: { stego: true } } });
      rejects(
        { env: {}, configDir: dir },
        /config key protection\.stego must be an object of keys \(got true\)/,
      );
    });

    it('rejects a wrong type in the NODE_ENV file', () => {
      const dir = configDir({ 'production.json': { keys: { generateOnFirstStart: 'no' } } });
      rejects(
        { env: {}, configDir: dir, nodeEnv: 'production' },
        /keys\.generateOnFirstStart must be a boolean \(got 'no'\) \(from .*production\.json\)/,
      );
    });

    it('rejects an unknown VEIL_ environment variable', () => {
      rejects(
        env({ VEIL_LOG_LEVEL: 'debug' }),
        /environment variable VEIL_LOG_LEVEL names no config key/,
      );
    });

    it('rejects a missing VEIL_CONFIG file and unparsable JSON', () => {
      rejects(
        env({ VEIL_CONFIG: '/nonexistent/veil.json' }),
        /config file cannot be read: ENOENT \(from \/nonexistent\/veil\.json\)/,
      );
      const dir = configDir({ 'default.json': '{ "log": ' });
      rejects({ env: {}, configDir: dir }, /config file is not valid JSON/);
      const arr = configDir({ 'default.json': '[]' });
      rejects({ env: {}, configDir: arr }, /config file must hold a JSON object/);
    });

    it('rejects a NODE_ENV that is not a plain name', () => {
      rejects(
        { env: {}, configDir: configDir(), nodeEnv: '../secrets' },
        /NODE_ENV '\.\.\/secrets' is not a plain name/,
      );
    });
  });

  describe('documentation', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
    const rows = new Map(
      doc
        .split('\n')
        .map((line) => /^\| `([A-Za-z.]+)` +\|/.exec(line) && ([line.split('`')[1], line] as const))
        .filter((r): r is readonly [string, string] => Boolean(r)),
    );

    it('documents every leaf key of the schema with its environment variable and default', () => {
      for (const key of listConfigKeys()) {
        const row = rows.get(key.path);
        assert.ok(row, `docs/configuration.md has no row for \`${key.path}\``);
        assert.ok(row.includes(`\`${key.env}\``), `row of ${key.path} names ${key.env}`);
        assert.ok(
          row.includes(`\`${JSON.stringify(key.leaf.default)}\``),
          `row of ${key.path} shows its default`,
        );
      }
    });

    it('documents no key that the schema lacks', () => {
      const known = new Set(listConfigKeys().map((k) => k.path));
      for (const documented of rows.keys())
        assert.ok(known.has(documented), `${documented} is not in the schema`);
    });

    it('ships a default.json whose every key is in the schema with the schema default', () => {
      const shipped = JSON.parse(fs.readFileSync(path.join(REPO_CONFIG, 'default.json'), 'utf8'));
      const keys = new Map(listConfigKeys().map((k) => [k.path, k]));
      const leaves: string[] = [];
      const walk = (node: Record<string, unknown>, prefix: string): void => {
        for (const [name, value] of Object.entries(node)) {
          const p = prefix + name;
          if (keys.has(p)) {
            leaves.push(p);
            assert.deepEqual(
              value,
              keys.get(p)!.leaf.default,
              `default.json ${p} equals the schema default`,
            );
          } else {
            assert.ok(
              value && typeof value === 'object' && !Array.isArray(value),
              `${p} is not in the schema`,
            );
            walk(value as Record<string, unknown>, `${p}.`);
          }
        }
      };
      walk(shipped, '');
      assert.deepEqual(leaves.sort(), [...keys.keys()].sort(), 'default.json lists every key');
    });

    it('ships environment files that load', () => {
      for (const file of fs.readdirSync(REPO_CONFIG).filter((f) => f.endsWith('.json'))) {
        loadConfig({ env: {}, configDir: REPO_CONFIG, nodeEnv: file.replace(/\.json$/, '') });
      }
    });
  });
});
