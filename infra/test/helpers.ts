import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Template } from 'aws-cdk-lib/assertions';

import { buildApp, type RaktarApp } from '../lib/app.js';

/** Context of a full installation: every stack, sign-in through Identity Center. */
export const FULL_CONTEXT = {
  publicUrl: 'https://crates.example.com',
  signIn: 'cognito',
  identityCenterMetadataUrl: 'https://portal.sso.eu-west-1.amazonaws.com/saml/metadata/EXAMPLE',
  alarmEmail: 'ops@example.com',
} as const;

/** A folder with a `bootstrap` whose ELF header names the machine (0x3e x86_64, 0xb7 aarch64). */
export function fakeArtifact(machine: 0x3e | 0xb7): string {
  const dir = mkdtempSync(join(tmpdir(), 'raktar-infra-artifact-'));
  const head = Buffer.alloc(64);
  head.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  head.writeUInt16LE(machine, 18);
  writeFileSync(join(dir, 'bootstrap'), head, { mode: 0o755 });
  return dir;
}

/** A built UI folder. */
export function fakeUi(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raktar-infra-ui-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Raktar</title>');
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)');
  return dir;
}

/** Builds the app with a context (never the developer's environment or build outputs). */
export function build(context: Record<string, string> = {}): RaktarApp {
  const outdir = mkdtempSync(join(tmpdir(), 'raktar-infra-cdk-'));
  return buildApp({ outdir, context: { lambdaAsset: fakeArtifact(0x3e), uiDir: fakeUi(), ...context } }, {});
}

export interface Templates {
  readonly raktar: RaktarApp;
  readonly backend: Template;
  readonly frontend: Template;
  readonly signIn: Template | undefined;
}

export function templates(context: Record<string, string> = {}): Templates {
  const raktar = build(context);
  return {
    raktar,
    backend: Template.fromStack(raktar.backend),
    frontend: Template.fromStack(raktar.frontend),
    signIn: raktar.signIn === undefined ? undefined : Template.fromStack(raktar.signIn),
  };
}

/** The only resource of a type: its properties. */
export function only(
  t: Template,
  type: string,
): { logicalId: string; props: Record<string, unknown>; resource: Record<string, unknown> } {
  const found = Object.entries(t.findResources(type));
  if (found.length !== 1) {
    throw new Error(`expected one ${type}, found ${found.length}`);
  }
  const [logicalId, resource] = found[0]!;
  return { logicalId, resource, props: (resource.Properties ?? {}) as Record<string, unknown> };
}
