// The Lambda code asset: the zip `.ci/build-lambda` builds (a `bootstrap` ELF binary), or a folder
// holding `bootstrap`. The architecture comes from the binary itself (its ELF header), so an arm64
// artifact gets an arm64 function. Synth never needs a release build: without an artifact the
// asset is a placeholder folder (a function that cannot start), with a warning.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { constants, inflateRawSync } from 'node:zlib';

import { REPO_ROOT } from './table-schema.js';

export type Architecture = 'x86_64' | 'arm64';

export interface LambdaArtifact {
  /** A zip file or a folder with `bootstrap`. */
  readonly path: string;
  /** Detected from the binary; `undefined` when `bootstrap` is not an ELF binary (the placeholder). */
  readonly architecture: Architecture | undefined;
  readonly placeholder: boolean;
}

export const PLACEHOLDER_LAMBDA_DIR = join(REPO_ROOT, 'infra', 'assets', 'lambda-placeholder');

/** The artifacts `.ci/build-lambda` writes, arm64 first (cheaper per GB-second). */
export function defaultArtifactCandidates(targetDir: string = join(REPO_ROOT, 'target')): string[] {
  return [
    join(targetDir, 'lambda', 'arm64', 'raktar', 'bootstrap.zip'),
    join(targetDir, 'lambda', 'x86_64', 'raktar', 'bootstrap.zip'),
  ];
}

/** ELF `e_machine` of the first bytes of a binary. */
export function elfArchitecture(head: Uint8Array): Architecture | undefined {
  if (head.length < 20 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) {
    return undefined;
  }
  const littleEndian = head[5] === 1;
  const machine = littleEndian ? head[18]! | (head[19]! << 8) : (head[18]! << 8) | head[19]!;
  if (machine === 0x3e) return 'x86_64';
  if (machine === 0xb7) return 'arm64';
  return undefined;
}

/** The first bytes of the `bootstrap` entry of a zip file (stored or deflated). */
export function bootstrapHeadFromZip(zip: Buffer, entryName = 'bootstrap'): Buffer | undefined {
  // End of central directory: signature 0x06054b50, searched from the end (the comment may follow).
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return undefined;
  const entries = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (offset + 46 > zip.length || zip.readUInt32LE(offset) !== 0x02014b50) return undefined;
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localOffset = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (name === entryName) {
      const localNameLength = zip.readUInt16LE(localOffset + 26);
      const localExtraLength = zip.readUInt16LE(localOffset + 28);
      const start = localOffset + 30 + localNameLength + localExtraLength;
      const data = zip.subarray(start, start + Math.min(compressedSize, 64 * 1024));
      if (method === 0) return data;
      if (method === 8) return inflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
      return undefined;
    }
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return undefined;
}

function fileHead(path: string, bytes = 64): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const read = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** Describes the artifact at `path` (a zip or a folder with `bootstrap`). */
export function inspectArtifact(path: string): LambdaArtifact {
  if (!existsSync(path)) {
    throw new Error(`Lambda artifact ${path} does not exist (build it with \`bash .ci/build-lambda\`)`);
  }
  const placeholder = path === PLACEHOLDER_LAMBDA_DIR;
  if (statSync(path).isDirectory()) {
    const bootstrap = join(path, 'bootstrap');
    if (!existsSync(bootstrap)) {
      throw new Error(`Lambda asset folder ${path} has no \`bootstrap\``);
    }
    return { path, architecture: elfArchitecture(fileHead(bootstrap)), placeholder };
  }
  const head = bootstrapHeadFromZip(readFileSync(path));
  if (head === undefined) {
    throw new Error(`Lambda artifact ${path} is not a zip with a \`bootstrap\` entry`);
  }
  return { path, architecture: elfArchitecture(head), placeholder };
}

/** The artifact to deploy: the one named (context `lambdaAsset` / `RAKTAR_LAMBDA_ASSET`), else the
 * newest build of `.ci/build-lambda`, else the placeholder. */
export function resolveArtifact(named: string | undefined, candidates = defaultArtifactCandidates()): LambdaArtifact {
  if (named !== undefined && named !== '') {
    return inspectArtifact(named);
  }
  const built = candidates.find((c) => existsSync(c));
  return inspectArtifact(built ?? PLACEHOLDER_LAMBDA_DIR);
}
