import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import {
  PLACEHOLDER_LAMBDA_DIR,
  bootstrapHeadFromZip,
  elfArchitecture,
  inspectArtifact,
  resolveArtifact,
} from '../lib/artifact.js';

function elf(machine: number): Buffer {
  const head = Buffer.alloc(4096);
  head.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  head.writeUInt16LE(machine, 18);
  return head;
}

/** A one-entry zip (method 0 stored or 8 deflated), as cargo-lambda writes them. */
function zipWith(name: string, data: Buffer, method: 0 | 8): Buffer {
  const body = method === 8 ? deflateRawSync(data) : data;
  const nameBuf = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(method, 8);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(nameBuf.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(method, 10);
  central.writeUInt32LE(body.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(nameBuf.length, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = local.length + nameBuf.length + body.length;
  const cd = Buffer.concat([central, nameBuf]);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, nameBuf, body, cd, eocd]);
}

describe('the Lambda artifact', () => {
  it('reads the architecture from the ELF header', () => {
    expect(elfArchitecture(elf(0x3e))).toBe('x86_64');
    expect(elfArchitecture(elf(0xb7))).toBe('arm64');
    expect(elfArchitecture(Buffer.from('#!/bin/sh\n'))).toBeUndefined();
  });

  it('finds bootstrap inside stored and deflated zips', () => {
    for (const method of [0, 8] as const) {
      const zip = zipWith('bootstrap', elf(0xb7), method);
      expect(elfArchitecture(bootstrapHeadFromZip(zip)!)).toBe('arm64');
      expect(bootstrapHeadFromZip(zipWith('other', elf(0xb7), method))).toBeUndefined();
    }
  });

  it('inspects a zip on disk and refuses one without bootstrap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raktar-infra-zip-'));
    writeFileSync(join(dir, 'bootstrap.zip'), zipWith('bootstrap', elf(0x3e), 8));
    expect(inspectArtifact(join(dir, 'bootstrap.zip'))).toEqual({
      path: join(dir, 'bootstrap.zip'),
      architecture: 'x86_64',
      placeholder: false,
    });
    writeFileSync(join(dir, 'bad.zip'), zipWith('README', Buffer.from('x'), 0));
    expect(() => inspectArtifact(join(dir, 'bad.zip'))).toThrow(/bootstrap/);
    expect(() => inspectArtifact(join(dir, 'missing.zip'))).toThrow(/build-lambda/);
  });

  it('prefers the named artifact, then a build, then the placeholder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raktar-infra-builds-'));
    const arm = join(dir, 'arm.zip');
    writeFileSync(arm, zipWith('bootstrap', elf(0xb7), 8));
    expect(resolveArtifact(undefined, [join(dir, 'none.zip'), arm]).architecture).toBe('arm64');
    const none = resolveArtifact(undefined, [join(dir, 'none.zip')]);
    expect(none).toEqual({ path: PLACEHOLDER_LAMBDA_DIR, architecture: undefined, placeholder: true });
  });
});
